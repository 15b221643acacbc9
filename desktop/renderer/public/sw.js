// The app shell offline: when the node that serves this UI is stopped or unreachable, a reload still
// opens the app, which then shows the last state it kept in IndexedDB and says it is offline.
// API requests are never cached or answered from here (they carry a token and live data).
const CACHE = 'microgrid-shell-v1'
const scope = new URL(self.registration.scope)
const isApi = url => url.pathname.startsWith(scope.pathname + 'api/')

// On install: the page and every asset it names (hashed file names under assets/).
self.addEventListener('install', event => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE)
    const index = await fetch(scope.href, { cache: 'no-cache' })
    if (!index.ok) return
    const html = await index.clone().text()
    const assets = [...html.matchAll(/(?:src|href)="\.?\/?(assets\/[^"]+)"/g)].map(m => new URL(m[1], scope).href)
    await cache.put(scope.href, index)
    await cache.addAll([...new Set(assets)])
    await self.skipWaiting()
  })())
})

self.addEventListener('activate', event => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key)
    await self.clients.claim()
  })())
})

// Pages: the network first (a new build shows at once), the cache when the node does not answer.
// Hashed assets: the cache first (their content never changes under one name), kept as they load.
self.addEventListener('fetch', event => {
  const request = event.request
  const url = new URL(request.url)
  if (request.method !== 'GET' || url.origin !== scope.origin || isApi(url)) return
  if (request.mode === 'navigate') {
    event.respondWith((async () => {
      try {
        const fresh = await fetch(request)
        if (fresh.ok) await (await caches.open(CACHE)).put(scope.href, fresh.clone())
        return fresh
      } catch (err) {
        const cached = await caches.match(scope.href)
        if (cached !== undefined) return cached
        throw err
      }
    })())
    return
  }
  if (url.pathname.startsWith(scope.pathname + 'assets/')) {
    event.respondWith((async () => {
      const cached = await caches.match(request)
      if (cached !== undefined) return cached
      const fresh = await fetch(request)
      if (fresh.ok) await (await caches.open(CACHE)).put(request, fresh.clone())
      return fresh
    })())
  }
})
