// The dashboard end to end in Chromium (playwright-core; the browser is the system's).
// Usage: node e2e.mjs BASE_URL ADMIN_KEY READ_KEY SCREENSHOT_DIR [CHROMIUM]
// Started by crates/server/tests/dashboard.rs; exits non-zero on the first failure.

import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import path from "node:path";

const [base, adminKey, readKey, shots, executablePath = "/usr/bin/chromium"] = process.argv.slice(2);
if (!shots) {
  console.error("usage: node e2e.mjs BASE_URL ADMIN_KEY READ_KEY SCREENSHOT_DIR [CHROMIUM]");
  process.exit(2);
}

const LAPTOP = { width: 1366, height: 850 };
const PHONE = { width: 390, height: 844 };

async function api(key, p, options = {}) {
  const response = await fetch(base + p, {
    ...options,
    headers: { Authorization: `Bearer ${key}`, ...(options.headers || {}) },
  });
  const body = await response.json();
  assert.ok(response.ok, `${p}: ${response.status} ${JSON.stringify(body)}`);
  return body;
}

const step = (text) => console.log(`- ${text}`);

async function signIn(browser, key, viewport) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  // Failed requests are the API's answers (the broken model's 422 is expected);
  // everything else logged as an error is a bug.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(m.text());
  });
  page.on("response", (r) => {
    if (r.status() === 404 || r.status() >= 500) errors.push(`${r.status()} ${r.url()}`);
  });
  await page.goto(`${base}/`);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForSelector("#contacts tbody tr");
  return { context, page, errors };
}

/** Wait until the view drawn is the one of the current location (not the previous
 *  view's rows, which are still on screen while the next one loads). */
async function drawn(page) {
  await page.waitForFunction(() => document.body.dataset.view === location.hash
    && document.querySelector("#view").getAttribute("aria-busy") === "false");
}

// Open a view and wait for `selector` in the given Playwright `state`. A chart's bars
// are waited for as "attached", not "visible": a band with no conversions is a bar of
// height 0, which Playwright counts as hidden (the seed is relative to today, so which
// band is empty changes from day to day).
async function go(page, hash, selector, state = "visible") {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await drawn(page);
  await page.waitForSelector(selector, { state });
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

const browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
try {
  // ---- sign in, the list
  step("sign in with the admin key and open the list");
  const { page, errors } = await signIn(browser, adminKey, LAPTOP);
  const top = (await api(adminKey, "/api/v1/contacts?limit=50")).items;
  const shown = await page.$$eval("#contacts .contact-link", (as) => as.map((a) => a.textContent));
  assert.deepEqual(shown, top.map((r) => r.contact_id), "the list is the API's order");
  const hot = await page.$$eval("#contacts tbody tr.hot .badge.hot", (b) => b.length);
  assert.equal(hot, top.filter((r) => r.label === "hot").length, "hot leads are coloured");
  await shot(page, "contacts-laptop");

  step("filter by label and search");
  await page.getByLabel("Label").selectOption("warm");
  await page.waitForFunction(() => location.hash.includes("label=warm"));
  await drawn(page);
  await page.waitForSelector("#contacts tbody tr, #view p");
  const labels = await page.$$eval("#contacts tbody .badge", (b) => b.map((x) => x.textContent));
  assert.ok(labels.every((l) => l === "warm"), `only warm: ${labels}`);
  await go(page, "#/contacts?q=c-1", "#contacts tbody tr");
  const found = await page.$$eval("#contacts .contact-link", (as) => as.map((a) => a.textContent));
  assert.ok(found.length > 0 && found.every((id) => id.includes("c-1")), `search: ${found}`);
  step("filter by score group: most points in the group first");
  const group = (await api(adminKey, "/api/v1/me")).model.groups[0];
  await go(page, "#/contacts", "#contacts tbody tr");
  await page.getByLabel("Group").selectOption(group);
  await page.waitForFunction((g) => location.hash.includes(`group=${g}`), group);
  await drawn(page);
  await page.waitForSelector("#contacts td.group-points");
  const inGroup = (await api(adminKey, `/api/v1/contacts?limit=50&group=${encodeURIComponent(group)}`)).items;
  const groupShown = await page.$$eval("#contacts tbody tr", (rows) => rows.map((r) => ({
    id: r.querySelector(".contact-link").textContent, points: Number(r.querySelector(".group-points").textContent) })));
  assert.deepEqual(groupShown.map((r) => r.id), inGroup.map((r) => r.contact_id), "the group list is the API's");
  assert.ok(groupShown.length > 0 && groupShown.every((r, i) => r.points !== 0
    && (i === 0 || groupShown[i - 1].points >= r.points)), `group points descending: ${JSON.stringify(groupShown)}`);
  await shot(page, "contacts-group-laptop");
  await go(page, "#/contacts", "#contacts tbody tr");
  if (top.length === 50) {
    await page.click("#next-page");
    await page.waitForFunction(() => location.hash.includes("cursor="));
    await drawn(page);
    await page.waitForSelector("#contacts tbody tr");
    const second = await page.$eval("#contacts .contact-link", (a) => a.textContent);
    assert.ok(!top.some((r) => r.contact_id === second), "page 2 continues after page 1");
    await go(page, "#/contacts", "#contacts tbody tr");
  }

  // ---- the top lead
  step("open the top lead; its explanation and timeline match the API");
  const id = top[0].contact_id;
  await page.click("#contacts .contact-link >> nth=0");
  await page.waitForSelector("#explain tbody tr");
  await page.waitForSelector("#score-chart, #timeline");
  const score = await api(adminKey, `/api/v1/contacts/${encodeURIComponent(id)}/score`);
  const timeline = await api(adminKey, `/api/v1/contacts/${encodeURIComponent(id)}/timeline`);
  assert.equal(await page.$eval("#score", (e) => e.textContent), String(score.score));
  const explainRows = await page.$$eval("#explain tbody tr", (rows) =>
    rows.map((r) => ({ rule: r.dataset.rule, points: Number(r.querySelector(".points").textContent) })));
  assert.deepEqual(explainRows.map((r) => r.rule), score.explain.map((l) => l.rule), "explanation rules");
  explainRows.forEach((r, i) =>
    assert.ok(Math.abs(r.points - score.explain[i].points) < 0.01, `${r.rule}: ${r.points} vs ${score.explain[i].points}`));
  const events = await page.$$eval("#timeline > li", (lis) =>
    lis.map((li) => ({ points: Number(li.dataset.points),
      rules: [...li.querySelectorAll("[data-rule]")].map((x) => `${x.dataset.rule}:${x.dataset.status}`) })));
  assert.equal(events.length, timeline.items.length, "one entry per event");
  events.forEach((e, i) => {
    const item = timeline.items[i];
    assert.ok(Math.abs(e.points - item.points) < 0.01, `event ${i} points`);
    assert.deepEqual(e.rules, item.rules.map((r) => `${r.rule}:${r.status}`), `event ${i} rules`);
  });
  // What the events count adds up to the explanation (before group caps).
  for (const rule of timeline.rules) {
    const line = score.explain.find((l) => l.rule === rule.rule);
    const explained = line ? line.points + (line.capped || 0) : 0;
    assert.ok(Math.abs(rule.events_points - explained) < 0.05, `${rule.rule}: ${rule.events_points} vs ${explained}`);
  }
  const chartPoints = await page.$$eval("#score-chart circle", (c) => c.length);
  const history = await api(adminKey, `/api/v1/contacts/${encodeURIComponent(id)}/scores`);
  assert.equal(chartPoints, history.items.length, "a chart point per history entry");
  await shot(page, "contact-laptop");

  step("a manual adjustment moves the score");
  await page.getByLabel("Points").fill("7");
  await page.getByLabel("Reason (required)").fill("Met at the trade fair, budget confirmed");
  await page.getByRole("button", { name: "Add adjustment" }).click();
  await page.waitForFunction((before) => document.querySelector("#score")?.textContent !== before, String(score.score));
  const after = await api(adminKey, `/api/v1/contacts/${encodeURIComponent(id)}/score`);
  assert.equal(after.manual - score.manual, 7);
  assert.equal(await page.$eval("#score", (e) => e.textContent), String(after.score));
  assert.ok((await page.textContent("#view")).includes("Met at the trade fair"));

  // ---- the model
  step("a broken model shows its located error in place");
  await go(page, "#/model", "#model-text");
  await page.waitForSelector("#versions tbody tr");
  await page.fill("#model-text", 'version = 1\nname = "broken"\n\n[[fit]]\nid = "a"\npoints = "ten"\n');
  await page.click("#model-upload");
  await page.waitForSelector("#model-diagnostics .diagnostic");
  const diagnostics = await page.textContent("#model-diagnostics");
  assert.match(diagnostics, /line \d+, column \d+/);
  const models = await api(adminKey, "/api/v1/models");
  assert.ok(models.items.every((m) => m.name !== "broken"), "nothing stored");
  await shot(page, "model-laptop");

  step("a changed model is backtested against the active one before activation");
  const activeText = (await api(adminKey, "/api/v1/models/1")).text;
  const changed = activeText.replace(/^points = (\d+)$/m, (_, n) => `points = ${Number(n) + 15}`);
  assert.notEqual(changed, activeText, "the model has a points line to change");
  await page.fill("#model-text", changed);
  await page.click("#model-upload");
  await page.waitForFunction(() => document.querySelector("#model-diagnostics")?.textContent.includes("Saved as version"));
  const candidate = (await api(adminKey, "/api/v1/models")).items.at(-1);
  await page.waitForSelector(`#backtest-version option[value="${candidate.version}"]`, { state: "attached" });
  assert.equal(await page.$eval("#backtest-version", (s) => s.value), String(candidate.version));
  await page.click("#backtest-run");
  await page.waitForSelector("#backtest table");
  const backtest = await api(adminKey, `/api/v1/models/${candidate.version}/backtest`, { method: "POST" });
  assert.equal(backtest.models.length, 2, "candidate and active");
  const cells = await page.$$eval("#backtest tr[data-metric]", (rows) =>
    Object.fromEntries(rows.map((r) => [r.dataset.metric, [...r.querySelectorAll("td.num")].map((td) => td.textContent)])));
  assert.deepEqual(cells.contacts, backtest.models.map((m) => String(m.evaluation.contacts)));
  assert.deepEqual(cells.auc, backtest.models.map((m) =>
    (typeof m.evaluation.auc === "number" ? Number(m.evaluation.auc.toFixed(3)).toString() : "–")));
  const headers = await page.$$eval("#backtest thead th", (ths) => ths.map((th) => th.textContent));
  assert.ok(headers[2].includes("(active)"), `the second column is the active model: ${headers}`);
  const stillActive = (await api(adminKey, "/api/v1/models")).items.find((m) => m.active);
  assert.equal(stillActive.version, 1, "a backtest activates nothing");
  await shot(page, "model-backtest-laptop");

  // ---- reports
  step("the report charts render");
  await go(page, "#/reports", "#histogram rect.bar", "attached");
  const report = await api(adminKey, "/api/v1/reports/distribution?bucket=10");
  assert.equal(await page.$$eval("#histogram rect.bar", (r) => r.length), report.buckets.length);
  assert.ok(await page.$$eval("#funnel rect.bar", (r) => r.length) > 0);

  step("the outcome charts match GET /api/v1/reports/outcomes");
  await page.waitForSelector("#conversion-band rect.bar", { state: "attached" });
  const outcomes = await api(adminKey, "/api/v1/reports/outcomes");
  assert.ok(outcomes.converters > 0, "the seeded outcomes include sales");
  const bars = (sel) => page.$$eval(`${sel} rect.bar`, (r) => r.map((b) => b.dataset.name));
  assert.deepEqual(await bars("#conversion-band"), outcomes.by_band.filter((g) => g.contacts > 0).map((g) => g.name));
  assert.deepEqual(await bars("#conversion-grade"), outcomes.by_grade.filter((g) => g.contacts > 0).map((g) => g.name));
  assert.deepEqual(await bars("#rule-lift"), outcomes.rules.filter((r) => typeof r.lift === "number").map((r) => r.rule));
  assert.deepEqual(await bars("#outcome-funnel"), outcomes.funnel.map((f) => f.step));
  const funnelRows = await page.$$eval("#funnel-table tbody tr", (rows) =>
    rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent)));
  outcomes.funnel.forEach((f, i) => {
    assert.equal(funnelRows[i][1], String(f.contacts), `funnel ${f.step}`);
    const days = f.median_days_to_next;
    assert.equal(funnelRows[i][3], typeof days === "number" ? `${Number(days.toFixed(1))} d` : "–", `time after ${f.step}`);
  });
  await shot(page, "reports-laptop");

  step("the account report matches the API: conversion by account score band, the AUC comparison");
  const accounts = outcomes.accounts;
  assert.ok(accounts && accounts.accounts > 0, "the example model has [account] and the seed has accounts");
  await page.waitForSelector("#account-conversion-band rect.bar", { state: "attached" });
  const filled = accounts.by_band.filter((g) => g.contacts > 0);
  assert.deepEqual(await bars("#account-conversion-band"), filled.map((g) => g.name));
  // Every bar's height is its conversion rate on the chart's 0-100 % scale (160 px).
  const heights = (sel) => page.$$eval(`${sel} rect.bar`, (r) => r.map((b) => Number(b.getAttribute("height"))));
  (await heights("#account-conversion-band")).forEach((px, i) => {
    assert.ok(Math.abs(px - 160 * (filled[i].rate || 0)) < 0.01, `band ${filled[i].name}: ${px}px for ${filled[i].rate}`);
  });
  assert.deepEqual(await bars("#account-auc"), ["account score", "best member score"]);
  const aucs = [accounts.account_score.auc, accounts.best_member_score.auc];
  (await heights("#account-auc")).forEach((px, i) => {
    assert.ok(Math.abs(px - 160 * (aucs[i] ?? 0)) < 0.01, `AUC bar ${i}: ${px}px for ${aucs[i]}`);
  });
  const predictorRows = await page.$$eval("#account-predictors tbody tr", (rows) =>
    rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent)));
  const three = (x) => (typeof x === "number" ? Number(x.toFixed(3)).toString() : "–");
  assert.deepEqual(predictorRows[0], ["ROC AUC", three(aucs[0]), three(aucs[1])]);
  assert.deepEqual(predictorRows[1], ["Qualified", String(accounts.account_score.qualified),
    String(accounts.best_member_score.qualified)]);
  const verdict = await page.textContent("#account-verdict");
  assert.ok(verdict.includes(`AUC ${three(aucs[0])} vs ${three(aucs[1])}`), verdict);
  await page.$eval("#accounts-report", (e) => e.scrollIntoView());
  await page.screenshot({ path: path.join(shots, "reports-accounts-laptop.png") });

  step("routing and automation: a dead webhook delivery is replayed");
  await go(page, "#/automation", "#view h1");
  await page.waitForFunction(() => document.querySelector("#view h1")?.textContent.startsWith("Routing"));
  await shot(page, "automation-laptop");
  const teams = (await api(adminKey, "/api/v1/teams")).items;
  assert.ok(teams.length > 0, "the seeded model has teams");
  for (const t of teams) {
    for (const m of t.members) {
      const cells = await page.$$eval(`#teams tr[data-member="${m.member}"] td`, (tds) => tds.map((td) => td.textContent));
      assert.equal(cells[2], String(m.open), `open leads of ${m.member}`);
      assert.equal(cells[3], t.capacity == null ? "∞" : String(t.capacity), `capacity of ${m.member}`);
    }
  }
  const dead = (await api(adminKey, "/api/v1/webhooks/deliveries?status=dead&limit=100")).items
    .find((d) => d.kind === "webhook");
  assert.ok(dead, "the server seeded a dead webhook delivery");
  const row = `#deliveries tr[data-id="${dead.id}"]`;
  await page.getByLabel("Delivery status").selectOption("dead");
  await page.getByRole("button", { name: "Show" }).click();
  await page.waitForFunction(() => location.hash.includes("status=dead"));
  await drawn(page);
  await page.waitForSelector(row);
  assert.ok(await page.$eval(row, (r) => r.classList.contains("dead")), "dead deliveries stand out");
  assert.ok((await page.textContent(row)).includes(dead.last_error), "with their last error");
  await shot(page, "automation-dead-laptop");
  await page.click(`${row} button`);
  await page.waitForFunction((id) => document.querySelector("#status").textContent.includes(`${id} is queued again`), dead.id)
    .catch(async (e) => { throw new Error(`${e.message}; status: ${await page.textContent("#status")}`); });
  let replayed = null;
  for (let i = 0; i < 100; i++) {
    replayed = await api(adminKey, `/api/v1/webhooks/deliveries/${encodeURIComponent(dead.id)}`);
    if (replayed.status === "delivered") break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(replayed.status, "delivered", `the replay was delivered: ${JSON.stringify(replayed)}`);

  step("keyboard: the navigation is reachable with Tab and Enter");
  await page.focus("a.skip"); // the first stop of the page: "Skip to content"
  let focused = "";
  for (let i = 0; i < 12 && focused !== "Reports"; i++) {
    await page.keyboard.press("Tab");
    focused = await page.evaluate(() => document.activeElement?.textContent || "");
  }
  assert.equal(focused, "Reports", "Tab reaches the navigation");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#histogram");
  assert.deepEqual(errors, [], "no script errors");
  await page.context().close();

  // ---- phone width
  step("every page at phone width");
  {
    const { page: phone, context } = await signIn(browser, adminKey, PHONE);
    await shot(phone, "contacts-phone");
    await go(phone, `#/contacts?group=${encodeURIComponent(group)}`, "#contacts td.group-points");
    const groupOverflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(groupOverflow <= 1, `the group list fits a phone (overflow ${groupOverflow}px)`);
    await shot(phone, "contacts-group-phone");
    await go(phone, `#/contact/${encodeURIComponent(id)}`, "#explain tbody tr");
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the contact page fits a phone (overflow ${overflow}px)`);
    await shot(phone, "contact-phone");
    await go(phone, "#/model", "#model-text");
    await shot(phone, "model-phone");
    await go(phone, "#/reports", "#conversion-band rect.bar", "attached");
    const reportOverflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(reportOverflow <= 1, `the reports fit a phone (overflow ${reportOverflow}px)`);
    await phone.waitForSelector("#account-conversion-band rect.bar", { state: "attached" });
    for (const sel of ["#account-conversion-band", "#account-auc", "#account-predictors"]) {
      const box = await phone.$eval(sel, (e) => { const r = e.getBoundingClientRect(); return { left: r.left, right: r.right }; });
      assert.ok(box.left >= 0 && box.right <= PHONE.width + 1, `${sel} fits a phone: ${JSON.stringify(box)}`);
    }
    await phone.$eval("#accounts-report", (e) => e.scrollIntoView());
    await phone.screenshot({ path: path.join(shots, "reports-accounts-phone.png") });
    await shot(phone, "reports-phone");
    await go(phone, "#/automation", "#view h1");
    await shot(phone, "automation-phone");
    await context.close();
  }

  // ---- a read key
  step("a read key sees no write controls");
  {
    const { page: reader, context } = await signIn(browser, readKey, LAPTOP);
    await go(reader, `#/contact/${encodeURIComponent(id)}`, "#explain tbody tr");
    assert.equal(await reader.$$eval("#adjust", (f) => f.length), 0, "no adjustment form");
    await go(reader, "#/model", "#model-text");
    assert.equal(await reader.$$eval("#model-upload", (b) => b.length), 0, "no upload button");
    assert.equal(await reader.$eval("#model-text", (t) => t.readOnly), true);
    const refused = await fetch(`${base}/api/v1/contacts/${encodeURIComponent(id)}/adjustments`, {
      method: "POST",
      headers: { Authorization: `Bearer ${readKey}`, "Content-Type": "application/json" },
      body: JSON.stringify({ points: 1, reason: "x" }),
    });
    assert.equal(refused.status, 403, "the server refuses a read key's write");
    await context.close();
  }
  console.log("dashboard e2e: all checks passed");
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  await browser.close();
}
