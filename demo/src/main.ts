/**
 * `npm start`: runs the island demo until Ctrl-C and prints how to look at it (`npm start -- --help`
 * lists the options).
 *
 * The utility's node serves its API (and the UI) on --port, producer 1's on the next port, household 1's
 * on the one after (any free ones with --port 0).
 */
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { IslandDemo } from './island.ts'

const USAGE = 'usage: npm start [-- --dir <island dir>] [--port <api port>] [--pace <ms>] [--ui <built UI dir>] [--quiet]'
const HELP = `${USAGE}

Runs the island demo until Ctrl-C; a second start on the same directory resumes the same island.

  --dir <dir>   where the island lives: keys, grid, every node's ledger, every meter's state
                (default: $MICROGRID_ISLAND_DIR, else ~/.microgrid/island)
  --port <n>    the utility's API and UI on n, producer 1's on n + 1, household 1's on n + 2;
                0 takes any free ports (default 7420)
  --pace <ms>   milliseconds between two actions of the island's parties, at least 100 (default 4000)
  --ui <dir>    a built UI to serve (default: desktop/dist/renderer, which npm start builds)
  --quiet       print the links only, not what the parties do
  -h, --help    this text
`
// The UI that `npm start` builds first (`npm run build -w desktop`).
const BUILT_UI = fileURLToPath(new URL('../../desktop/dist/renderer', import.meta.url))

function refuse (message: string): never {
  process.stderr.write(`island: ${message}\n${USAGE}\n`)
  process.exit(2)
}

let values
try {
  values = parseArgs({
    options: {
      dir: { type: 'string', default: process.env.MICROGRID_ISLAND_DIR ?? join(homedir(), '.microgrid', 'island') },
      port: { type: 'string', default: '7420' },
      pace: { type: 'string', default: '4000' },
      ui: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' }
    },
    strict: true
  }).values
} catch (err) {
  refuse((err as Error).message)
}
if (values.help === true) { process.stdout.write(HELP); process.exit(0) }
const port = Number(values.port)
const pace = Number(values.pace)
if (!/^\d+$/.test(values.port) || port > 65535) refuse(`--port: expected a port number (0 for free ones), got ${values.port}`)
if (!Number.isFinite(pace) || pace < 100) refuse(`--pace: expected milliseconds ≥ 100, got ${values.pace}`)
if (values.ui !== undefined && !existsSync(join(values.ui, 'index.html'))) refuse(`--ui: no index.html in ${values.ui} (npm run build -w desktop builds the UI)`)

const say = (line: string): void => { process.stdout.write(line + '\n') }
const ui = values.ui !== undefined ? resolve(values.ui) : existsSync(join(BUILT_UI, 'index.html')) ? BUILT_UI : undefined
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
