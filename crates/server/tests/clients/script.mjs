// Sends events to a leadscore server with the official Segment Node SDK
// (@segment/analytics-node), as a website backend would.
// Usage: node script.mjs URL WRITE_KEY PREFIX
//   PREFIX-a: identify (CTO) + "Demo Requested";  PREFIX-b: identify (CTO);
//   PREFIX-c: identify (Intern).
import { Analytics } from '@segment/analytics-node'

const [url, writeKey, prefix] = process.argv.slice(2)
if (!url || !writeKey || !prefix) {
  console.error('usage: node script.mjs URL WRITE_KEY PREFIX')
  process.exit(2)
}

const analytics = new Analytics({ writeKey, host: url, flushAt: 3, maxRetries: 3 })
const failures = []
analytics.on('error', (err) => failures.push(err))

const callback = (err) => { if (err) failures.push(err) }
analytics.identify({ userId: `${prefix}-a`, traits: { job_title: 'CTO', email: 'a@acme.example' } }, callback)
analytics.identify({ userId: `${prefix}-b`, traits: { job_title: 'CTO', email: 'b@acme.example' } }, callback)
analytics.identify({ userId: `${prefix}-c`, traits: { job_title: 'Intern', email: 'c@acme.example' } }, callback)
analytics.track({ userId: `${prefix}-a`, event: 'Demo Requested', properties: { source: 'node' } }, callback)

await analytics.closeAndFlush({ timeout: 20000 })
if (failures.length > 0) {
  console.error('segment node client failed:', failures)
  process.exit(1)
}
console.log('sent with @segment/analytics-node')
