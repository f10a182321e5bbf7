//! The delivery worker: sends what trigger edges put in the outbox (`deliveries`),
//! webhooks by HTTP `POST` and notifications by SMTP, with retries and dead letters.
//!
//! * **At least once, one id**: a row is claimed with a lease (the store's conditional
//!   `UPDATE`, safe with several servers on one PostgreSQL), sent, then finished under
//!   the claim. A server that dies between sending and finishing leaves the lease to
//!   expire and another attempt sends the same `id` (`Idempotency-Key`) again;
//!   receivers deduplicate by it. Enqueued rows survive any crash (they were committed
//!   with the edge), so a restart delivers what was pending.
//! * **Webhook body**: `{"id","trigger","fired_at","contact":<result with explain>}`,
//!   where `contact` is the result at the edge (stored with the row, so a retry sends
//!   the same bytes but for the signature time). Headers `Idempotency-Key: <id>` and,
//!   with a secret, `Leadscore-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
//! * **Outcome**: a 2xx is delivered; anything else (status, timeout, connection
//!   error) is retried after `retry_base * 2^(attempts-1)` (capped at `retry_max`),
//!   and dead after `max_attempts` attempts. Redirects are not followed (a 3xx is a
//!   failure), so a target cannot bounce the request to an address we refuse.
//! * **Private targets**: a URL whose host is, or resolves to, a loopback, private,
//!   link-local, CGNAT or unspecified address is refused (dead at once, with the
//!   reason) unless its host is allow-listed. The same check runs again inside the
//!   HTTP client's resolver, so a name that changes its answer between check and
//!   connect (DNS rebinding) is still refused.
//! * **E-mail**: `notify` actions go to the SMTP server of `--smtp` (`smtp://HOST:PORT`,
//!   `smtps://` or `?tls=required` for TLS, user and password in the URL); without one
//!   they are dead with a message saying so (replay them once it is configured). The
//!   message id is `<delivery id>@leadscore`, so duplicates are recognisable.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hmac::{Hmac, Mac};
use leadscore_formats::format_timestamp;
use leadscore_store::automation::{Delivery, DeliveryOutcome, kind};
use leadscore_store::{Automation as _, Millis};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;
use serde_json::value::RawValue;
use sha2::Sha256;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::scoring::now;
use crate::state::AppState;

/// Delivery settings (`leadscore serve` flags; `docs/automation.md`).
#[derive(Clone, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Run the delivery worker in this server. Several servers may all run one.
    pub worker: bool,
    /// The webhook signing secret; `None`: no `Leadscore-Signature` header.
    pub secret: Option<String>,
    /// Hosts (names or IP addresses, compared case-insensitively) that may resolve to
    /// private addresses.
    pub allow_hosts: Vec<String>,
    /// Attempts before a delivery is dead.
    pub max_attempts: u32,
    /// Wait after the first failed attempt; doubled after each further one.
    pub retry_base: Duration,
    /// Longest wait between attempts.
    pub retry_max: Duration,
    /// Timeout of one attempt (webhook request, SMTP session).
    pub timeout: Duration,
    /// SMTP server URL for `notify` actions.
    pub smtp: Option<String>,
    /// `From:` of notification e-mails.
    pub notify_from: String,
    /// How often the worker looks for due retries when nothing woke it.
    pub poll: Duration,
    /// Deliveries in flight at once per server.
    pub concurrency: usize,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            worker: false,
            secret: None,
            allow_hosts: Vec::new(),
            max_attempts: 8,
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            smtp: None,
            notify_from: "leadscore@localhost".to_owned(),
            poll: Duration::from_secs(1),
            concurrency: 16,
        }
    }
}

/// Secrets stay out of logs and panics.
impl fmt::Debug for DeliveryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryConfig")
            .field("worker", &self.worker)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("allow_hosts", &self.allow_hosts)
            .field("max_attempts", &self.max_attempts)
            .field("retry_base", &self.retry_base)
            .field("retry_max", &self.retry_max)
            .field("timeout", &self.timeout)
            .field("smtp", &self.smtp.as_ref().map(|_| "***"))
            .field("notify_from", &self.notify_from)
            .field("poll", &self.poll)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

/// What the automation shares with the worker: its wake-up, and counters for
/// `/metrics`.
#[derive(Debug, Default)]
pub struct Shared {
    /// Notified when a rescoring enqueued deliveries.
    pub(crate) wake: Notify,
    fired: AtomicU64,
    assigned: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    dead: AtomicU64,
}

impl Shared {
    /// Count trigger edges recorded by this process.
    pub(crate) fn count_fired(&self, n: usize) {
        self.fired
            .fetch_add(u64::try_from(n).unwrap_or(0), Ordering::Relaxed);
    }

    /// Count an assignment made by this process.
    pub(crate) fn count_assigned(&self) {
        self.assigned.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, help, value) in [
            (
                "leadscore_triggers_fired_total",
                "Trigger edges (inactive -> active) recorded.",
                &self.fired,
            ),
            (
                "leadscore_assignments_total",
                "Contacts assigned to an owner.",
                &self.assigned,
            ),
            (
                "leadscore_deliveries_delivered_total",
                "Webhook and e-mail deliveries that succeeded.",
                &self.delivered,
            ),
            (
                "leadscore_deliveries_failed_total",
                "Delivery attempts that failed (retried or dead).",
                &self.failed,
            ),
            (
                "leadscore_deliveries_dead_total",
                "Deliveries given up (dead letters).",
                &self.dead,
            ),
        ] {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                value.load(Ordering::Relaxed)
            ));
        }
        out
    }
}

/// Stops the worker when dropped (a delivery in flight is sent again once its lease
/// expires: at least once, same id).
#[derive(Debug)]
pub struct WorkerGuard(JoinHandle<()>);

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// Worth trying again.
    Retry(String),
    /// Will never work (refused target, malformed address): dead at once.
    Refused(String),
}

/// What every attempt needs.
struct Worker {
    state: AppState,
    http: reqwest::Client,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    /// This worker's claim token.
    claim: String,
}

/// Start the delivery worker of `state`; an error when the HTTP client or the SMTP URL
/// cannot be set up.
pub fn spawn(state: AppState) -> Result<WorkerGuard, String> {
    let config = &state.config.delivery;
    let allow: Arc<[String]> = config.allow_hosts.iter().map(|h| normalize(h)).collect();
    let http = reqwest::Client::builder()
        .timeout(config.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(GuardedResolver { allow }))
        .user_agent(concat!("leadscore/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the webhook HTTP client: {e}"))?;
    let smtp = match &config.smtp {
        Some(url) => Some(
            AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .map_err(|e| format!("`--smtp`: {e}"))?
                .timeout(Some(config.timeout))
                .build(),
        ),
        None => None,
    };
    if config.secret.is_none() {
        tracing::warn!(
            "no webhook secret (--webhook-secret): webhooks are sent without a signature"
        );
    }
    let worker = Arc::new(Worker {
        state,
        http,
        smtp,
        claim: crate::keys::new_id(),
    });
    Ok(WorkerGuard(tokio::spawn(run(worker))))
}

async fn run(worker: Arc<Worker>) {
    let config = &worker.state.config.delivery;
    let concurrency = config.concurrency.max(1);
    let slots = Arc::new(Semaphore::new(concurrency));
    // A lease outlives the attempt's timeout with room to record the outcome.
    let lease = Millis::try_from((config.timeout * 3).as_millis()).unwrap_or(Millis::MAX);
    loop {
        // Wait for at least one free slot, then claim as many as are free.
        let Ok(first) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let free = slots.available_permits() + 1;
        let limit = u32::try_from(free).unwrap_or(u32::MAX);
        let claimed = match worker
            .state
            .store
            .claim_deliveries(now(), lease, limit, &worker.claim)
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::error!(%error, "deliveries: cannot claim");
                Vec::new()
            }
        };
        let full = claimed.len() >= free;
        let mut first = Some(first);
        for delivery in claimed {
            let permit = match first.take() {
                Some(permit) => permit,
                None => match Arc::clone(&slots).acquire_owned().await {
                    Ok(permit) => permit,
                    Err(_) => return,
                },
            };
            let worker = Arc::clone(&worker);
            tokio::spawn(async move {
                worker.attempt(delivery).await;
                drop(permit);
            });
        }
        drop(first);
        if !full {
            tokio::select! {
                () = worker.state.automation.wake.notified() => {}
                () = tokio::time::sleep(config.poll) => {}
            }
        }
    }
}

impl Worker {
    /// One attempt at `delivery`, and its outcome recorded.
    async fn attempt(&self, delivery: Delivery) {
        let config = &self.state.config.delivery;
        let sent = match delivery.kind.as_str() {
            kind::WEBHOOK => self.webhook(&delivery).await,
            kind::EMAIL => self.email(&delivery).await,
            other => Err(Failure::Refused(format!("unknown delivery kind `{other}`"))),
        };
        let shared = &self.state.automation;
        let outcome = match sent {
            Ok(()) => {
                shared.delivered.fetch_add(1, Ordering::Relaxed);
                DeliveryOutcome::Delivered { at: now() }
            }
            Err(failure) => {
                shared.failed.fetch_add(1, Ordering::Relaxed);
                let attempts = delivery.attempts.saturating_add(1);
                let (error, retry_at) = match failure {
                    Failure::Refused(error) => (error, None),
                    Failure::Retry(error) if attempts >= i64::from(config.max_attempts) => {
                        (format!("{error} (gave up after {attempts} attempts)"), None)
                    }
                    Failure::Retry(error) => {
                        let wait = backoff(config, attempts);
                        let wait = Millis::try_from(wait.as_millis()).unwrap_or(Millis::MAX);
                        (error, Some(now().saturating_add(wait)))
                    }
                };
                if retry_at.is_none() {
                    shared.dead.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(delivery = %delivery.id, target = %delivery.target, %error,
                        "delivery dead-lettered");
                } else {
                    tracing::info!(delivery = %delivery.id, %error, attempts, "delivery failed; will retry");
                }
                DeliveryOutcome::Failed { error, retry_at }
            }
        };
        match self
            .state
            .store
            .finish_delivery(&delivery.id, &self.claim, &outcome)
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(delivery = %delivery.id,
                "delivery outcome not recorded: the claim was lost (lease expired or replayed)"),
            Err(error) => tracing::error!(delivery = %delivery.id, %error,
                "cannot record a delivery outcome; it will be attempted again"),
        }
    }

    async fn webhook(&self, delivery: &Delivery) -> Result<(), Failure> {
        let config = &self.state.config.delivery;
        let url = reqwest::Url::parse(&delivery.target)
            .map_err(|e| Failure::Refused(format!("not a URL: {e}")))?;
        check_target(&url, &config.allow_hosts).await?;
        let body = payload(delivery).map_err(Failure::Refused)?;
        let mut request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", &delivery.id);
        if let Some(secret) = &config.secret {
            let t = now() / 1000;
            request = request.header("Leadscore-Signature", signature(secret, t, &body));
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| Failure::Retry(describe(&e)))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(Failure::Retry(format!(
                "the receiver answered HTTP {status}"
            )))
        }
    }

    async fn email(&self, delivery: &Delivery) -> Result<(), Failure> {
        let Some(smtp) = &self.smtp else {
            return Err(Failure::Refused(
                "no SMTP server configured (--smtp / LEADSCORE_SMTP); replay once it is".into(),
            ));
        };
        let config = &self.state.config.delivery;
        let from = config
            .notify_from
            .parse()
            .map_err(|e| Failure::Refused(format!("bad --notify-from address: {e}")))?;
        let to = delivery
            .target
            .parse()
            .map_err(|e| Failure::Refused(format!("bad recipient address: {e}")))?;
        let contact: serde_json::Value = serde_json::from_str(&delivery.body).unwrap_or_default();
        let message = Message::builder()
            .from(from)
            .to(to)
            .message_id(Some(format!("<{}@leadscore>", delivery.id)))
            .subject(match &delivery.account_key {
                Some(key) => format!(
                    "leadscore: {} for account {key} (score {})",
                    delivery.trigger_id, contact["score"]
                ),
                None => format!(
                    "leadscore: {} for {} (score {})",
                    delivery.trigger_id, delivery.contact_id, contact["score"]
                ),
            })
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(email_text(delivery, &contact))
            .map_err(|e| Failure::Refused(format!("cannot build the e-mail: {e}")))?;
        match smtp.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(Failure::Refused(format!("SMTP refused: {e}"))),
            Err(e) => Err(Failure::Retry(format!("SMTP: {e}"))),
        }
    }
}

/// The wait before attempt `attempts + 1`: `retry_base * 2^(attempts-1)`, at most
/// `retry_max`.
fn backoff(config: &DeliveryConfig, attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    config
        .retry_base
        .saturating_mul(2_u32.saturating_pow(exponent))
        .min(config.retry_max)
}

/// The webhook body: `{"id","trigger","fired_at","contact"}`, or for an account
/// trigger's delivery `{"id","trigger","fired_at","account"}` (the account result with
/// its owner).
fn payload(delivery: &Delivery) -> Result<String, String> {
    #[derive(Serialize)]
    struct Payload<'a> {
        id: &'a str,
        trigger: &'a str,
        fired_at: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        contact: Option<&'a RawValue>,
        #[serde(skip_serializing_if = "Option::is_none")]
        account: Option<&'a RawValue>,
    }
    let result: &RawValue = serde_json::from_str(&delivery.body)
        .map_err(|e| format!("stored result is not JSON: {e}"))?;
    let (contact, account) = match delivery.account_key {
        Some(_) => (None, Some(result)),
        None => (Some(result), None),
    };
    serde_json::to_string(&Payload {
        id: &delivery.id,
        trigger: &delivery.trigger_id,
        fired_at: format_timestamp(delivery.fired_at),
        contact,
        account,
    })
    .map_err(|e| format!("cannot serialize the payload: {e}"))
}

/// `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    format!("t={t},v1={hex}")
}

/// An e-mail's text: who, why, the score, its explanation, and the full result.
fn email_text(delivery: &Delivery, contact: &serde_json::Value) -> String {
    let field = |name: &str| match &contact[name] {
        serde_json::Value::Null => "-".to_owned(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut text = match &delivery.account_key {
        // An account summary: who is in it, who owns it, and why it scores.
        Some(key) => format!(
            "Trigger `{}` fired for account {key} at {}.\n\n\
             Score: {} (label {}, stage {})\nOwner: {}\nMembers: {}\nDelivery: {}\n\nWhy:\n",
            delivery.trigger_id,
            format_timestamp(delivery.fired_at),
            field("score"),
            field("label"),
            field("stage"),
            field("owner"),
            contact["members"]
                .as_array()
                .map(|m| m
                    .iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default(),
            delivery.id,
        ),
        None => format!(
            "Trigger `{}` fired for contact {} at {}.\n\n\
             Score: {} (label {}, grade {}, stage {})\nOwner: {}\nDelivery: {}\n\nWhy:\n",
            delivery.trigger_id,
            delivery.contact_id,
            format_timestamp(delivery.fired_at),
            field("score"),
            field("label"),
            field("grade"),
            field("stage"),
            field("owner"),
            delivery.id,
        ),
    };
    if let Some(lines) = contact["explain"].as_array() {
        for line in lines {
            text.push_str(&format!(
                "  {:>8}  {} ({})\n",
                line["points"]
                    .as_f64()
                    .map_or("-".into(), |p| format!("{p:+.1}")),
                line["label"]
                    .as_str()
                    .or(line["rule"].as_str())
                    .unwrap_or("-"),
                line["kind"].as_str().unwrap_or("-"),
            ));
        }
    }
    text.push_str("\nFull result (JSON):\n");
    text.push_str(&delivery.body);
    text.push('\n');
    text
}

/// The transport error, with its cause (reqwest's own message is terse).
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".into();
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A host as compared with the allow-list: lower case, without IPv6 brackets.
fn normalize(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

fn allowed(host: &str, allow: &[String]) -> bool {
    let host = normalize(host);
    allow.iter().any(|a| normalize(a) == host)
}

/// Whether an address is one a webhook must not reach unless allowed: loopback,
/// private (RFC 1918, IPv6 unique local), link-local, CGNAT, unspecified, broadcast,
/// "this network", and IPv4-mapped forms of those.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let [first, second, ..] = a.octets();
            a.is_loopback()
                || a.is_private()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || first == 0
                || (first == 100 && (second & 0xc0) == 64)
        }
        IpAddr::V6(a) => {
            let head = a.segments()[0];
            a.is_loopback()
                || a.is_unspecified()
                || (head & 0xfe00) == 0xfc00
                || (head & 0xffc0) == 0xfe80
                || a.to_ipv4_mapped()
                    .is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

/// Refuse a webhook URL whose host is or resolves to a private address (unless
/// allow-listed); a name that does not resolve is worth retrying.
async fn check_target(url: &reqwest::Url, allow: &[String]) -> Result<(), Failure> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Failure::Refused(format!(
            "webhook URLs are http:// or https://, not {}://",
            url.scheme()
        )));
    }
    let host = url
        .host_str()
        .ok_or_else(|| Failure::Refused("the webhook URL has no host".into()))?;
    if allowed(host, allow) {
        return Ok(());
    }
    let refused = |ip: IpAddr| {
        Failure::Refused(format!(
            "refused: the webhook host `{host}` is {}a private, loopback or link-local \
             address ({ip}); allow it with --allow-webhook-host {}",
            if host.parse::<IpAddr>().is_ok() || normalize(host).parse::<IpAddr>().is_ok() {
                ""
            } else {
                "resolves to "
            },
            normalize(host)
        ))
    };
    if let Ok(ip) = normalize(host).parse::<IpAddr>() {
        return if is_private(ip) {
            Err(refused(ip))
        } else {
            Ok(())
        };
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Failure::Retry(format!("cannot resolve `{host}`: {e}")))?
        .collect();
    match addresses.iter().find(|a| is_private(a.ip())) {
        Some(private) => Err(refused(private.ip())),
        None => Ok(()),
    }
}

/// The HTTP client's resolver: the same refusal, at connect time.
struct GuardedResolver {
    allow: Arc<[String]>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = Arc::clone(&self.allow);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allowed(&host, &allow)
                && let Some(private) = addresses.iter().find(|a| is_private(a.ip()))
            {
                return Err(format!(
                    "refused: `{host}` resolves to a private address ({})",
                    private.ip()
                )
                .into());
            }
            let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges_are_recognised() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_private(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(!is_private(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let config = DeliveryConfig::default();
        let secs = |a| backoff(&config, a).as_secs();
        assert_eq!([secs(1), secs(2), secs(3), secs(4)], [30, 60, 120, 240]);
        assert_eq!(secs(20), 3600);
    }

    #[test]
    fn signature_is_hmac_sha256_of_t_dot_body() {
        // RFC 4231 test case 2 shape: key "Jefe"; message "<t>.<body>".
        let sig = signature("Jefe", 0, "what do ya want for nothing?");
        assert!(sig.starts_with("t=0,v1="));
        assert_eq!(sig.len(), "t=0,v1=".len() + 64);
        assert_ne!(sig, signature("Jefe", 1, "what do ya want for nothing?"));
    }

    #[tokio::test]
    async fn targets_are_checked() {
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        assert!(matches!(
            check_target(&url("http://127.0.0.1:9/x"), &[]).await,
            Err(Failure::Refused(m)) if m.contains("--allow-webhook-host 127.0.0.1")
        ));
        assert!(matches!(
            check_target(&url("http://localhost:9/x"), &[]).await,
            Err(Failure::Refused(m)) if m.contains("resolves to")
        ));
        assert!(
            check_target(&url("http://127.0.0.1:9/x"), &["127.0.0.1".into()])
                .await
                .is_ok()
        );
        assert!(
            check_target(&url("http://[::1]:9/x"), &["::1".into()])
                .await
                .is_ok()
        );
        assert!(matches!(
            check_target(&url("ftp://example.com/x"), &[]).await,
            Err(Failure::Refused(_))
        ));
    }
}
