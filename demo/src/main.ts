/**
 * `npm start`: runs the island demo until Ctrl-C and prints how to look at it.
 *
 *   npm start [-- --dir <island dir>] [--port <api port>] [--pace <ms between actions>] [--quiet]
 *
 * The utility's node serves its API (and the UI) on --port, producer 1's on the next port, household 1's
 * on the one after (any free ones with --port 0).
 */
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { IslandDemo } from './island.ts'

const USAGE = 'usage: npm start [-- --dir <island dir>] [--port <api port>] [--pace <ms>] [--quiet]'

let values
try {
  values = parseArgs({
    options: {
      dir: { type: 'string', default: process.env.MICROGRID_ISLAND_DIR ?? join(homedir(), '.microgrid', 'island') },
      port: { type: 'string', default: '7420' },
      pace: { type: 'string', default: '4000' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' }
    },
    strict: true
  }).values
} catch (err) {
  process.stderr.write(`island: ${(err as Error).message}\n${USAGE}\n`)
  process.exit(2)
}
if (values.help === true) { process.stdout.write(USAGE + '\n'); process.exit(0) }
const port = Number(values.port)
const pace = Number(values.pace)
if (!Number.isInteger(port) || port < 0 || port > 65535) { process.stderr.write(`island: --port: expected a port number, got ${values.port}\n${USAGE}\n`); process.exit(2) }
if (!Number.isFinite(pace) || pace < 100) { process.stderr.write(`island: --pace: expected milliseconds ≥ 100, got ${values.pace}\n${USAGE}\n`); process.exit(2) }

const say = (line: string): void => { process.stdout.write(line + '\n') }
// The UI, when built (`npm start` builds it first: `npm run build -w desktop`).
const uiDir = fileURLToPath(new URL('../../desktop/dist/renderer', import.meta.url))
const ui = existsSync(join(uiDir, 'index.html')) ? uiDir : undefined
const started = Date.now()
say(`Starting the island in ${values.dir} ...`)
let demo: IslandDemo
try {
  demo = await IslandDemo.start({ dir: values.dir, port, paceMs: pace, ...(ui !== undefined ? { ui } : {}), log: values.quiet === true ? () => {} : line => say(`  ${line}`) })
} catch (err) {
  if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    process.stderr.write(`island: port ${port}, ${port + 1} or ${port + 2} is in use: pass --port 0 for free ports, or another number\n`)
    process.exit(1)
  }
  throw err
}
const page = (url: string, route: string): string => `${url}/#/${route}?token=${demo.token}`
say(`
Island "Isla Verde" is running (${((Date.now() - started) / 1000).toFixed(1)} s): a utility, two rooftop producers, five
households, three street lights and a stadium, each a libp2p peer with its own key and ledger.
${ui !== undefined
  ? `
Open in a browser (each link carries the API token once; the app keeps it):
  Resident of household 1   ${page(demo.urls.household, 'resident')}
  Consumer simulator        ${page(demo.urls.household, 'consumer-sim')}
  Producer (rooftop 1)      ${page(demo.urls.producer, 'producer')}
  Producer simulator        ${page(demo.urls.producer, 'producer-sim')}
  Utility console           ${page(demo.urls.utility, 'utility')}
  Payment simulator         ${page(demo.urls.utility, 'payment-sim')}
  Ledger explorer, network  ${page(demo.urls.utility, 'explorer')}
`
  : `
The UI is not built (npm run build -w desktop builds it; npm start does it first).
`}
API (docs/API.md)   ${demo.url}/api/v1   (token in ${join(values.dir, 'api-token')}; the producer's node at ${demo.urls.producer}, household 1's at ${demo.urls.household})
  export TOKEN=${demo.token}
  curl -s -H "Authorization: Bearer $TOKEN" ${demo.url}/api/v1/status
  curl -s -H "Authorization: Bearer $TOKEN" ${demo.url}/api/v1/devices
  curl -sN -H "Authorization: Bearer $TOKEN" ${demo.url}/api/v1/events      # live

Ctrl-C stops it; npm start again resumes the same island.
`)
const stop = (): void => {
  say('Stopping the island ...')
  void demo.stop().then(() => process.exit(0), err => { process.stderr.write(`${(err as Error).message}\n`); process.exit(1) })
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
