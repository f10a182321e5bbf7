//! The vocabulary of the synthetic world: names, job titles, industries, countries, web
//! pages, content assets and webinar topics.
//!
//! Everything here is static data. The lists that a scoring model refers to (free-mail
//! domains, competitor and own domains, the sales area, target industries, decision-maker
//! titles) are kept in step with `examples/b2b.toml`; a test in this crate parses that
//! file and checks both sides agree, so the planted truth means what the model says.

/// Where the role of a job title sits, as the generator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Signs or strongly influences the purchase (`CEO`, `Head of Marketing`, ...). These
    /// titles, and only these, match the decision-maker regex of `examples/b2b.toml`.
    DecisionMaker,
    /// Managers and individual contributors: the bulk of a B2B database.
    Staff,
    /// Interns, assistants, working students: match the model's non-decision-maker rule.
    Junior,
    /// People at universities and schools (`Student`, `Professor`, ...).
    Academic,
}

/// Job titles with their role and relative frequency (outside education).
pub(crate) const TITLES: &[(&str, Role, f64)] = &[
    ("CEO", Role::DecisionMaker, 1.2),
    ("CTO", Role::DecisionMaker, 1.0),
    ("CFO", Role::DecisionMaker, 0.8),
    ("COO", Role::DecisionMaker, 0.5),
    ("CMO", Role::DecisionMaker, 0.8),
    ("Chief Revenue Officer", Role::DecisionMaker, 0.3),
    ("Managing Director", Role::DecisionMaker, 1.5),
    ("Geschäftsführer", Role::DecisionMaker, 1.2),
    ("Geschäftsführerin", Role::DecisionMaker, 0.5),
    ("Owner", Role::DecisionMaker, 0.6),
    ("Founder", Role::DecisionMaker, 0.4),
    ("VP Sales", Role::DecisionMaker, 0.9),
    ("VP Marketing", Role::DecisionMaker, 0.9),
    ("Head of Marketing", Role::DecisionMaker, 2.0),
    ("Head of Sales", Role::DecisionMaker, 1.8),
    ("Head of IT", Role::DecisionMaker, 1.0),
    ("Head of Demand Generation", Role::DecisionMaker, 0.6),
    ("Marketing Director", Role::DecisionMaker, 1.0),
    ("Sales Director", Role::DecisionMaker, 1.0),
    ("Director of Operations", Role::DecisionMaker, 0.5),
    ("Marketing Manager", Role::Staff, 6.0),
    ("Online Marketing Manager", Role::Staff, 2.5),
    ("Sales Manager", Role::Staff, 5.0),
    ("Key Account Manager", Role::Staff, 4.0),
    ("Account Executive", Role::Staff, 4.0),
    ("Product Manager", Role::Staff, 3.0),
    ("Project Manager", Role::Staff, 4.0),
    ("IT Manager", Role::Staff, 3.0),
    ("Operations Manager", Role::Staff, 3.0),
    ("Team Lead Marketing", Role::Staff, 2.0),
    ("Software Engineer", Role::Staff, 5.0),
    ("Data Analyst", Role::Staff, 3.0),
    ("Business Analyst", Role::Staff, 3.0),
    ("Consultant", Role::Staff, 4.0),
    ("Marketing Specialist", Role::Staff, 4.0),
    ("Sales Representative", Role::Staff, 4.0),
    ("IT Administrator", Role::Staff, 3.0),
    ("Controller", Role::Staff, 2.0),
    ("Purchasing Manager", Role::Staff, 2.0),
    ("HR Manager", Role::Staff, 2.0),
    ("Intern", Role::Junior, 2.0),
    ("Marketing Intern", Role::Junior, 1.5),
    ("Working Student", Role::Junior, 1.5),
    ("Werkstudent", Role::Junior, 1.5),
    ("Assistant", Role::Junior, 1.0),
    ("Sales Assistant", Role::Junior, 1.0),
    ("Office Assistant", Role::Junior, 1.0),
    ("Trainee", Role::Junior, 1.0),
    ("Student", Role::Academic, 0.0),
    ("Research Assistant", Role::Academic, 0.0),
    ("PhD Candidate", Role::Academic, 0.0),
    ("Professor", Role::Academic, 0.0),
    ("Lecturer", Role::Academic, 0.0),
];

/// Relative frequency of the [`Role::Academic`] titles among people in education
/// (indexes into [`TITLES`] by name, resolved at run time).
pub(crate) const ACADEMIC_TITLES: &[(&str, f64)] = &[
    ("Student", 5.0),
    ("Research Assistant", 2.0),
    ("PhD Candidate", 2.0),
    ("Professor", 1.0),
    ("Lecturer", 1.0),
];

/// An industry and whether the example model targets it.
pub(crate) struct Industry {
    /// Value of the `industry` column.
    pub name: &'static str,
    /// In the model's `target_industries` list.
    pub target: bool,
    /// Relative frequency for companies whose name does not imply an industry.
    pub weight: f64,
}

/// Industries. Index 0.. are referenced by [`TAILS`].
pub(crate) const INDUSTRIES: &[Industry] = &[
    Industry {
        name: "Software",
        target: true,
        weight: 6.0,
    },
    Industry {
        name: "Manufacturing",
        target: true,
        weight: 6.0,
    },
    Industry {
        name: "Financial Services",
        target: true,
        weight: 3.0,
    },
    Industry {
        name: "Logistics",
        target: true,
        weight: 2.0,
    },
    Industry {
        name: "Professional Services",
        target: false,
        weight: 4.0,
    },
    Industry {
        name: "Healthcare",
        target: false,
        weight: 2.0,
    },
    Industry {
        name: "Retail",
        target: false,
        weight: 3.0,
    },
    Industry {
        name: "Energy",
        target: false,
        weight: 1.0,
    },
    Industry {
        name: "Media",
        target: false,
        weight: 1.5,
    },
    Industry {
        name: "Construction",
        target: false,
        weight: 1.5,
    },
    Industry {
        name: "Telecommunications",
        target: false,
        weight: 1.0,
    },
    Industry {
        name: "Hospitality",
        target: false,
        weight: 1.0,
    },
    Industry {
        name: "Education",
        target: false,
        weight: 0.0,
    },
];

/// Index of `Education` in [`INDUSTRIES`].
pub(crate) const EDUCATION: usize = 12;

/// First part of a company name (`Nord` + `werk`).
pub(crate) const NAME_PRE: &[(&str, &str)] = &[
    ("Nord", "nord"),
    ("Süd", "sued"),
    ("Alpen", "alpen"),
    ("Rhein", "rhein"),
    ("Berg", "berg"),
    ("Blau", "blau"),
    ("Sonnen", "sonnen"),
    ("Stern", "stern"),
    ("Elb", "elb"),
    ("Isar", "isar"),
    ("Main", "main"),
    ("Donau", "donau"),
    ("Hansa", "hansa"),
    ("Falken", "falken"),
    ("Adler", "adler"),
    ("Licht", "licht"),
    ("Eichen", "eichen"),
    ("Linden", "linden"),
    ("Stahl", "stahl"),
    ("Kristall", "kristall"),
    ("Polar", "polar"),
    ("Vektor", "vektor"),
    ("Quant", "quant"),
    ("Apex", "apex"),
    ("Gipfel", "gipfel"),
    ("Orbit", "orbit"),
    ("Nova", "nova"),
    ("Helix", "helix"),
    ("Pixel", "pixel"),
    ("Kobalt", "kobalt"),
    ("Silber", "silber"),
    ("Gold", "gold"),
    ("Weiß", "weiss"),
    ("Grün", "gruen"),
    ("Fluss", "fluss"),
    ("Seen", "seen"),
    ("Wald", "wald"),
    ("Feld", "feld"),
    ("Brücken", "bruecken"),
    ("Turm", "turm"),
];

/// Second part of a company name.
pub(crate) const NAME_MID: &[&str] = &[
    "werk", "stein", "tec", "soft", "data", "log", "med", "net", "tronic", "form", "wave", "link",
    "line", "point", "works", "labs", "metrics", "sys", "plan", "motion", "flow", "port", "bridge",
    "core", "mind", "scope", "grid", "hub", "mark", "hof",
];

/// Last word of a company name, with the industry it implies (`None`: any industry).
pub(crate) const TAILS: &[(&str, Option<usize>)] = &[
    ("Systems", None),
    ("Solutions", None),
    ("Group", None),
    ("Partners", None),
    ("Holding", None),
    ("Services", None),
    ("Digital", None),
    ("Ventures", None),
    ("Software", Some(0)),
    ("Analytics", Some(0)),
    ("Informatik", Some(0)),
    ("Technik", Some(1)),
    ("Maschinenbau", Some(1)),
    ("Automation", Some(1)),
    ("Werkzeugbau", Some(1)),
    ("Engineering", Some(1)),
    ("Finanz", Some(2)),
    ("Capital", Some(2)),
    ("Versicherung", Some(2)),
    ("Logistik", Some(3)),
    ("Transport", Some(3)),
    ("Consulting", Some(4)),
    ("Beratung", Some(4)),
    ("Health", Some(5)),
    ("Medizintechnik", Some(5)),
    ("Handel", Some(6)),
    ("Retail", Some(6)),
    ("Energie", Some(7)),
    ("Media", Some(8)),
    ("Bau", Some(9)),
    ("Telecom", Some(10)),
    ("Hotels", Some(11)),
    ("Akademie", Some(EDUCATION)),
    ("Hochschule", Some(EDUCATION)),
];

/// A country: ISO code, relative frequency, whether it is in the model's sales area,
/// and the legal forms of companies there.
pub(crate) struct Country {
    /// Value of the `country` column (ISO 3166-1 alpha-2).
    pub code: &'static str,
    /// Relative frequency of companies.
    pub weight: f64,
    /// In the model's `sales_area` list.
    pub sales_area: bool,
    /// Legal-form suffixes for company names.
    pub legal: &'static [&'static str],
}

/// Countries: mostly DACH (the sales area), some outside it.
pub(crate) const COUNTRIES: &[Country] = &[
    Country {
        code: "DE",
        weight: 52.0,
        sales_area: true,
        legal: &["GmbH", "GmbH", "GmbH", "AG", "GmbH & Co. KG", "SE"],
    },
    Country {
        code: "AT",
        weight: 10.0,
        sales_area: true,
        legal: &["GmbH", "GmbH", "AG"],
    },
    Country {
        code: "CH",
        weight: 10.0,
        sales_area: true,
        legal: &["AG", "GmbH", "SA"],
    },
    Country {
        code: "US",
        weight: 7.0,
        sales_area: false,
        legal: &["Inc.", "LLC", "Corp."],
    },
    Country {
        code: "GB",
        weight: 5.0,
        sales_area: false,
        legal: &["Ltd", "Ltd", "PLC"],
    },
    Country {
        code: "FR",
        weight: 4.0,
        sales_area: false,
        legal: &["SAS", "SA"],
    },
    Country {
        code: "NL",
        weight: 4.0,
        sales_area: false,
        legal: &["B.V."],
    },
    Country {
        code: "PL",
        weight: 3.0,
        sales_area: false,
        legal: &["sp. z o.o."],
    },
    Country {
        code: "IT",
        weight: 2.0,
        sales_area: false,
        legal: &["S.r.l.", "S.p.A."],
    },
    Country {
        code: "ES",
        weight: 1.5,
        sales_area: false,
        legal: &["S.L.", "S.A."],
    },
    Country {
        code: "IN",
        weight: 1.5,
        sales_area: false,
        legal: &["Pvt Ltd"],
    },
];

/// First names: (as written, as used in an e-mail address). Transliteration is
/// injective over this list, which keeps generated addresses unique.
pub(crate) const FIRST_NAMES: &[(&str, &str)] = &[
    ("Anna", "anna"),
    ("Ben", "ben"),
    ("Carla", "carla"),
    ("David", "david"),
    ("Elena", "elena"),
    ("Felix", "felix"),
    ("Greta", "greta"),
    ("Hannah", "hannah"),
    ("Jonas", "jonas"),
    ("Julia", "julia"),
    ("Katharina", "katharina"),
    ("Lukas", "lukas"),
    ("Laura", "laura"),
    ("Leon", "leon"),
    ("Lena", "lena"),
    ("Marie", "marie"),
    ("Maximilian", "maximilian"),
    ("Mia", "mia"),
    ("Niklas", "niklas"),
    ("Paul", "paul"),
    ("Sophie", "sophie"),
    ("Stefan", "stefan"),
    ("Thomas", "thomas"),
    ("Tobias", "tobias"),
    ("Sarah", "sarah"),
    ("Sebastian", "sebastian"),
    ("Andreas", "andreas"),
    ("Michael", "michael"),
    ("Christian", "christian"),
    ("Daniel", "daniel"),
    ("Sabine", "sabine"),
    ("Claudia", "claudia"),
    ("Petra", "petra"),
    ("Martin", "martin"),
    ("Markus", "markus"),
    ("Alexander", "alexander"),
    ("Johanna", "johanna"),
    ("Lisa", "lisa"),
    ("Jan", "jan"),
    ("Tim", "tim"),
    ("Florian", "florian"),
    ("Matthias", "matthias"),
    ("Philipp", "philipp"),
    ("Simon", "simon"),
    ("Jürgen", "juergen"),
    ("Björn", "bjoern"),
    ("Jörg", "joerg"),
    ("Sören", "soeren"),
    ("Zoë", "zoe"),
    ("James", "james"),
    ("Emily", "emily"),
    ("Oliver", "oliver"),
    ("Charlotte", "charlotte"),
    ("Lucas", "lucas"),
    ("Chloé", "chloe"),
    ("Pierre", "pierre"),
    ("Sofia", "sofia"),
    ("Marco", "marco"),
    ("Giulia", "giulia"),
    ("Piotr", "piotr"),
    ("Agnieszka", "agnieszka"),
    ("Priya", "priya"),
    ("Arjun", "arjun"),
    ("Wei", "wei"),
    ("Mei", "mei"),
    ("Carlos", "carlos"),
    ("Lucía", "lucia"),
    ("Noah", "noah"),
    ("Emma", "emma"),
    ("Ayşe", "ayse"),
];

/// Last names: (as written, as used in an e-mail address).
pub(crate) const LAST_NAMES: &[(&str, &str)] = &[
    ("Müller", "mueller"),
    ("Schmidt", "schmidt"),
    ("Schneider", "schneider"),
    ("Fischer", "fischer"),
    ("Weber", "weber"),
    ("Meyer", "meyer"),
    ("Wagner", "wagner"),
    ("Becker", "becker"),
    ("Schulz", "schulz"),
    ("Hoffmann", "hoffmann"),
    ("Schäfer", "schaefer"),
    ("Koch", "koch"),
    ("Bauer", "bauer"),
    ("Richter", "richter"),
    ("Klein", "klein"),
    ("Wolf", "wolf"),
    ("Schröder", "schroeder"),
    ("Neumann", "neumann"),
    ("Schwarz", "schwarz"),
    ("Zimmermann", "zimmermann"),
    ("Braun", "braun"),
    ("Krüger", "krueger"),
    ("Hofmann", "hofmann"),
    ("Hartmann", "hartmann"),
    ("Lange", "lange"),
    ("Schmitt", "schmitt"),
    ("Werner", "werner"),
    ("Krause", "krause"),
    ("Meier", "meier"),
    ("Lehmann", "lehmann"),
    ("Huber", "huber"),
    ("Gruber", "gruber"),
    ("Steiner", "steiner"),
    ("Moser", "moser"),
    ("Keller", "keller"),
    ("Brunner", "brunner"),
    ("Frei", "frei"),
    ("Baumann", "baumann"),
    ("Smith", "smith"),
    ("Johnson", "johnson"),
    ("Brown", "brown"),
    ("Taylor", "taylor"),
    ("Wilson", "wilson"),
    ("Bernard", "bernard"),
    ("Dubois", "dubois"),
    ("Rossi", "rossi"),
    ("Bianchi", "bianchi"),
    ("Kowalski", "kowalski"),
    ("Nowak", "nowak"),
    ("Sharma", "sharma"),
    ("Patel", "patel"),
    ("García", "garcia"),
    ("López", "lopez"),
    ("de Vries", "devries"),
    ("Jansen", "jansen"),
    ("O'Brien", "obrien"),
    ("Yılmaz", "yilmaz"),
    ("Nguyen", "nguyen"),
    ("Popescu", "popescu"),
    ("Novak", "novak"),
];

/// Free-mail providers, by relative frequency. All are in the model's `free_mail` list.
pub(crate) const FREE_MAIL: &[(&str, f64)] = &[
    ("gmail.com", 35.0),
    ("gmx.de", 15.0),
    ("web.de", 12.0),
    ("yahoo.com", 8.0),
    ("outlook.com", 8.0),
    ("t-online.de", 7.0),
    ("hotmail.com", 5.0),
    ("icloud.com", 4.0),
    ("bluewin.ch", 3.0),
    ("gmx.at", 3.0),
];

/// Competitors: (company, e-mail domain, company size). Domains are in the model's
/// `competitors` list.
pub(crate) const COMPETITORS: &[(&str, &str, u32)] = &[
    ("Rival Industries GmbH", "rival-industries.example", 420),
    ("ScoreForge AG", "scoreforge.example", 160),
    ("FunnelWorks Inc.", "funnelworks.example", 1300),
];

/// The vendor itself (own employees): company, domain, size. The domain is in the
/// model's `own_domains` list, and the sales team's addresses use it too.
pub(crate) const OWN_COMPANY: (&str, &str, u32) = ("Example Software GmbH", "example.com", 240);

/// Lead sources, by relative frequency. Pure noise: independent of everything.
pub(crate) const LEAD_SOURCES: &[(&str, f64)] = &[
    ("Website", 20.0),
    ("Organic Search", 15.0),
    ("Paid Search", 10.0),
    ("LinkedIn", 10.0),
    ("Trade Show", 10.0),
    ("Webinar", 8.0),
    ("Referral", 8.0),
    ("Partner", 7.0),
    ("Content Syndication", 7.0),
    ("Outbound", 5.0),
];

/// Base URL of the vendor's web site.
pub(crate) const SITE: &str = "https://www.example.com";

/// What kind of page a URL is; drives the browsing model and the planted truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageKind {
    /// `/`.
    Home,
    /// `/blog/...`: pure noise in the planted truth.
    Blog,
    /// `/product...`.
    Product,
    /// `/pricing...`: a planted buying signal.
    Pricing,
    /// `/docs/...`.
    Docs,
    /// `/resources/...`: a gated asset (whitepaper, report).
    Resource,
    /// `/webinars...`.
    Webinars,
    /// `/careers...`: job seekers and students.
    Careers,
    /// `/about`, `/contact`.
    Company,
    /// `/demo`: only reached in the demo-request flow.
    Demo,
}

/// Web pages: (path, title, kind). Paths never start with `/pricing` or `/product`
/// unless they are of that kind, so the model's globs classify them exactly.
pub(crate) const PAGES: &[(&str, &str, PageKind)] = &[
    (
        "/",
        "Example Software: lead scoring for B2B",
        PageKind::Home,
    ),
    ("/product", "Product overview", PageKind::Product),
    ("/product/scoring", "Lead scoring", PageKind::Product),
    ("/product/routing", "Lead routing", PageKind::Product),
    ("/product/integrations", "Integrations", PageKind::Product),
    ("/product/analytics", "Analytics", PageKind::Product),
    ("/pricing", "Pricing", PageKind::Pricing),
    (
        "/pricing/enterprise",
        "Enterprise pricing",
        PageKind::Pricing,
    ),
    (
        "/blog/what-is-lead-scoring",
        "What is lead scoring?",
        PageKind::Blog,
    ),
    ("/blog/mql-vs-sql", "MQL vs. SQL", PageKind::Blog),
    (
        "/blog/b2b-buyer-journey",
        "The B2B buyer journey",
        PageKind::Blog,
    ),
    (
        "/blog/email-benchmarks-2026",
        "E-mail benchmarks 2026",
        PageKind::Blog,
    ),
    (
        "/blog/intent-data-explained",
        "Intent data, explained",
        PageKind::Blog,
    ),
    (
        "/blog/account-based-marketing-guide",
        "A guide to \"account-based\" marketing",
        PageKind::Blog,
    ),
    (
        "/blog/crm-hygiene-checklist",
        "CRM hygiene checklist",
        PageKind::Blog,
    ),
    (
        "/blog/gdpr-for-marketers",
        "GDPR for marketers",
        PageKind::Blog,
    ),
    (
        "/blog/webinar-playbook",
        "The webinar playbook",
        PageKind::Blog,
    ),
    (
        "/blog/sales-marketing-alignment",
        "Sales & marketing alignment",
        PageKind::Blog,
    ),
    (
        "/blog/predictive-scoring-myths",
        "Predictive scoring myths",
        PageKind::Blog,
    ),
    ("/blog/lifecycle-stages", "Lifecycle stages", PageKind::Blog),
    (
        "/blog/nurture-campaigns",
        "Nurture campaigns that work",
        PageKind::Blog,
    ),
    (
        "/blog/lead-routing-rules",
        "Lead routing rules",
        PageKind::Blog,
    ),
    (
        "/blog/marketing-attribution",
        "Marketing attribution",
        PageKind::Blog,
    ),
    (
        "/blog/trade-show-follow-up",
        "Trade show follow-up",
        PageKind::Blog,
    ),
    ("/docs/getting-started", "Getting started", PageKind::Docs),
    ("/docs/api", "API reference", PageKind::Docs),
    ("/docs/model-format", "Model format", PageKind::Docs),
    (
        "/resources/lead-scoring-playbook",
        "Lead Scoring Playbook",
        PageKind::Resource,
    ),
    (
        "/resources/b2b-benchmark-report-2026",
        "B2B Benchmark Report 2026",
        PageKind::Resource,
    ),
    (
        "/resources/mql-definition-template",
        "MQL Definition Template",
        PageKind::Resource,
    ),
    (
        "/resources/roi-calculator",
        "ROI Calculator",
        PageKind::Resource,
    ),
    (
        "/resources/case-study-nordwerk",
        "Case study: Nordwerk",
        PageKind::Resource,
    ),
    ("/webinars", "Webinars", PageKind::Webinars),
    ("/careers", "Careers", PageKind::Careers),
    (
        "/careers/working-student-marketing",
        "Working student (marketing)",
        PageKind::Careers,
    ),
    ("/about", "About us", PageKind::Company),
    ("/contact", "Contact", PageKind::Company),
    ("/demo", "Book a demo", PageKind::Demo),
];

/// Webinar topics: (slug, title), used in calendar order.
pub(crate) const WEBINAR_TOPICS: &[(&str, &str)] = &[
    ("scoring-101", "Lead scoring 101"),
    ("from-mql-to-revenue", "From MQL to revenue"),
    ("routing-in-practice", "Lead routing in practice"),
    ("intent-signals", "Reading intent signals"),
    ("abm-for-the-mid-market", "ABM for the mid-market"),
    ("benchmark-2026-live", "B2B benchmark 2026, live"),
    ("crm-integration", "Connecting your CRM"),
    ("scoring-model-review", "Reviewing your scoring model"),
];

/// The inbound sales team (same addresses as `[teams.sales-a]` in the model); owners of
/// `Sales Accepted` events.
pub(crate) const SALES_REPS: &[&str] =
    &["anna@example.com", "ben@example.com", "carla@example.com"];

/// Pages of one kind, as indexes into [`PAGES`].
pub(crate) fn pages_of(kind: PageKind) -> Vec<u16> {
    PAGES
        .iter()
        .enumerate()
        .filter(|(_, p)| p.2 == kind)
        .map(|(i, _)| i as u16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// `examples/b2b.toml`, the model these tables are kept in step with.
    fn model() -> toml::Table {
        include_str!("../../../examples/b2b.toml")
            .parse()
            .expect("valid TOML")
    }

    fn list(model: &toml::Table, name: &str) -> HashSet<String> {
        let values = model["lists"][name].as_array().expect("list");
        values
            .iter()
            .map(|v| v.as_str().expect("string").to_lowercase())
            .collect()
    }

    fn fit_regex(model: &toml::Table, id: &str) -> regex::Regex {
        let rules = model["fit"].as_array().expect("fit");
        let rule = rules
            .iter()
            .find(|r| r["id"].as_str() == Some(id))
            .expect("rule");
        regex::Regex::new(rule["when"]["matches"].as_str().expect("regex")).expect("valid")
    }

    fn engagement_glob(model: &toml::Table, id: &str) -> regex::Regex {
        let rules = model["engagement"].as_array().expect("engagement");
        let rule = rules
            .iter()
            .find(|r| r["id"].as_str() == Some(id))
            .expect("rule");
        let glob = rule["when"]["glob"].as_str().expect("glob");
        let body: String = glob
            .chars()
            .map(|c| match c {
                '*' => ".*".to_string(),
                '?' => ".".to_string(),
                c => regex::escape(&c.to_string()),
            })
            .collect();
        regex::Regex::new(&format!("(?i)^{body}$")).expect("valid")
    }

    #[test]
    fn title_roles_agree_with_the_model_rules() {
        let m = model();
        let dm = fit_regex(&m, "decision-maker");
        let junior = fit_regex(&m, "non-decision-maker");
        for (title, role, _) in TITLES {
            assert_eq!(dm.is_match(title), *role == Role::DecisionMaker, "{title}");
            if *role == Role::Junior {
                assert!(junior.is_match(title), "{title}");
            }
            if matches!(role, Role::DecisionMaker | Role::Staff) {
                assert!(!junior.is_match(title), "{title}");
            }
        }
    }

    #[test]
    fn lists_agree_with_the_model() {
        let m = model();
        let free = list(&m, "free_mail");
        assert!(FREE_MAIL.iter().all(|(d, _)| free.contains(*d)));
        let competitors = list(&m, "competitors");
        assert!(COMPETITORS.iter().all(|(_, d, _)| competitors.contains(*d)));
        assert!(list(&m, "own_domains").contains(OWN_COMPANY.1));
        let area = list(&m, "sales_area");
        for c in COUNTRIES {
            assert_eq!(
                area.contains(&c.code.to_lowercase()),
                c.sales_area,
                "{}",
                c.code
            );
        }
        let targets = list(&m, "target_industries");
        for i in INDUSTRIES {
            assert_eq!(
                targets.contains(&i.name.to_lowercase()),
                i.target,
                "{}",
                i.name
            );
        }
    }

    #[test]
    fn page_globs_agree_with_page_kinds() {
        let m = model();
        let pricing = engagement_glob(&m, "pricing-visit");
        let product = engagement_glob(&m, "product-visit");
        let blog = engagement_glob(&m, "blog-visit");
        for (path, _, kind) in PAGES {
            let url = format!("{SITE}{path}?utm_campaign=product-update-2026-06");
            assert_eq!(pricing.is_match(&url), *kind == PageKind::Pricing, "{path}");
            assert_eq!(product.is_match(&url), *kind == PageKind::Product, "{path}");
            assert_eq!(blog.is_match(&url), *kind == PageKind::Blog, "{path}");
        }
    }
}
