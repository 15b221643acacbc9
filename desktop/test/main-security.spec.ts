/**
 * The window's settings and what it may do: webPreferences locked down, navigation kept on the app's
 * origin, no new windows (checked web links to the system browser), the camera alone as a permission.
 */
import { describe, expect, it } from 'vitest'
import { allowPermissionCheck, allowPermissionRequest, isSafeExternalUrl, isTrustedSender, mayNavigate, windowOpenDecision } from '../src/main/security-policy.ts'
import { appWindowOptions } from '../src/main/window-options.ts'

const APP = 'microgrid-app://app/index.html'

describe('the window options', () => {
  it('isolate and sandbox the renderer, with no Node.js in it', () => {
    const o = appWindowOptions({ preload: '/opt/Microgrid/resources/app/desktop/dist/preload/preload.cjs' })
    expect(o.webPreferences).toEqual({
      preload: '/opt/Microgrid/resources/app/desktop/dist/preload/preload.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      experimentalFeatures: false,
      navigateOnDragDrop: false,
      safeDialogs: true,
      spellcheck: false
    })
    expect(o.show).toBe(false)
    expect(o.title).toBe('Microgrid')
  })

  it('take only an absolute preload path', () => {
    expect(appWindowOptions({ preload: 'C:\\Program Files\\Microgrid\\preload.cjs' }).webPreferences.preload).toBe('C:\\Program Files\\Microgrid\\preload.cjs')
    for (const preload of ['preload.cjs', './dist/preload.cjs', '', 'https://example.org/preload.js']) {
      expect(() => appWindowOptions({ preload }), preload).toThrow(TypeError)
    }
  })
})

describe('navigation', () => {
  it.each([
    [APP, true],
    ['microgrid-app://app/#/resident', true],
    ['microgrid-app://app/other.html?x=1', true],
    ['microgrid-app://evil/index.html', false],
    ['https://example.org/', false],
    ['http://127.0.0.1:4100/', false],
    ['file:///etc/passwd', false],
    ['javascript:alert(1)', false],
    ['data:text/html,<script>1</script>', false],
    ['about:blank', false],
    ['', false]
  ])('%s: %s', (url, allowed) => {
    expect(mayNavigate(url)).toBe(allowed)
  })
})

describe('new windows', () => {
  it.each([
    ['https://www.openstreetmap.org/#map=17/1/2', 'https://www.openstreetmap.org/#map=17/1/2'],
    ['http://example.org/help', 'http://example.org/help'],
    [APP, undefined],
    ['microgrid-app://app/#/explorer', undefined],
    ['https://user:pass@example.org/', undefined],
    ['http://127.0.0.1:4100/api/v1/status?token=secret', undefined],
    ['http://localhost:4100/', undefined],
    ['http://[::1]:4100/', undefined],
    ['http://0.0.0.0/', undefined],
    ['http://app.localhost/', undefined],
    ['file:///home/user/.config/Microgrid/node/config.json', undefined],
    ['javascript:alert(1)', undefined],
    ['mailto:someone@example.org', undefined],
    ['smb://server/share', undefined],
    ['https://example.org/' + 'a'.repeat(2100), undefined],
    ['not a url', undefined]
  ])('%s: always denied, opened in the browser: %s', (url, external) => {
    const decision = windowOpenDecision(url)
    expect(decision.action).toBe('deny')
    expect('openExternally' in decision ? decision.openExternally : undefined).toBe(external)
    expect(isSafeExternalUrl(url)).toBe(external !== undefined)
  })
})

describe('permission requests', () => {
  it.each([
    [{ permission: 'media', requestingUrl: APP, mediaTypes: ['video'], isMainFrame: true }, true],
    [{ permission: 'media', requestingUrl: 'microgrid-app://app/#/resident', mediaTypes: ['video'] }, true],
    [{ permission: 'media', requestingUrl: APP, mediaTypes: ['video', 'audio'] }, false],
    [{ permission: 'media', requestingUrl: APP, mediaTypes: ['audio'] }, false],
    [{ permission: 'media', requestingUrl: APP, mediaTypes: [] }, false],
    [{ permission: 'media', requestingUrl: APP }, false],
    [{ permission: 'media', requestingUrl: APP, mediaTypes: ['video'], isMainFrame: false }, false],
    [{ permission: 'media', requestingUrl: 'https://example.org/', mediaTypes: ['video'] }, false],
    [{ permission: 'media', requestingUrl: undefined, mediaTypes: ['video'] }, false],
    [{ permission: 'geolocation', requestingUrl: APP }, false],
    [{ permission: 'notifications', requestingUrl: APP }, false],
    [{ permission: 'display-capture', requestingUrl: APP }, false],
    [{ permission: 'clipboard-read', requestingUrl: APP }, false],
    [{ permission: 'openExternal', requestingUrl: APP }, false],
    [{ permission: 'hid', requestingUrl: APP }, false],
    [{ permission: 'unknown', requestingUrl: APP }, false]
  ])('%o: %s', (req, allowed) => {
    expect(allowPermissionRequest(req)).toBe(allowed)
  })

  it.each([
    [{ permission: 'media', requestingOrigin: 'microgrid-app://app', mediaType: 'video' }, true],
    [{ permission: 'media', requestingOrigin: 'microgrid-app://app', mediaType: 'audio' }, false],
    [{ permission: 'media', requestingOrigin: 'microgrid-app://app', mediaType: 'unknown' }, false],
    [{ permission: 'media', requestingOrigin: 'microgrid-app://app', mediaType: 'video', isMainFrame: false }, false],
    [{ permission: 'media', requestingOrigin: 'https://example.org', mediaType: 'video' }, false],
    [{ permission: 'geolocation', requestingOrigin: 'microgrid-app://app' }, false],
    [{ permission: 'fullscreen', requestingOrigin: 'microgrid-app://app' }, false]
  ])('check %o: %s', (check, allowed) => {
    expect(allowPermissionCheck(check)).toBe(allowed)
  })
})

describe('IPC senders', () => {
  it.each([
    [APP, true, true],
    ['microgrid-app://app/#/setup', true, true],
    [APP, false, false],
    ['https://example.org/', true, false],
    ['microgrid-app://evil/', true, false],
    [undefined, true, false]
  ])('%s (main frame %s): %s', (url, main, trusted) => {
    expect(isTrustedSender(url, main)).toBe(trusted)
  })
})
