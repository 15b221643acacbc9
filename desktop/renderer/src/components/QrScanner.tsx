// Reads a QR code: the camera (getUserMedia, back camera first) when there is one and a secure context,
// and a photo upload always. Decoding is barcode-detector's ponyfill with its ZXing WASM served from
// our own bundle (never a CDN).
import { useEffect, useRef, useState, type ReactNode } from 'react'
import { BarcodeDetector, prepareZXingModule } from 'barcode-detector/ponyfill'
import wasmUrl from 'zxing-wasm/reader/zxing_reader.wasm?url'

prepareZXingModule({
  overrides: {
    locateFile: (path: string, prefix: string) => path.endsWith('.wasm') ? new URL(wasmUrl, document.baseURI).href : prefix + path
  }
})

let detector: BarcodeDetector | undefined

/** The text of the first QR code in an image, or null if it holds none. */
export async function decodeQr (image: ImageBitmapSource): Promise<string | null> {
  detector ??= new BarcodeDetector({ formats: ['qr_code'] })
  const codes = await detector.detect(image)
  return codes[0]?.rawValue ?? null
}

export function cameraAvailable (): boolean {
  return window.isSecureContext && typeof navigator.mediaDevices?.getUserMedia === 'function'
}

export function QrScanner ({ onScan }: { onScan: (text: string) => void }): ReactNode {
  const video = useRef<HTMLVideoElement>(null)
  const [camera, setCamera] = useState(false)
  const [problem, setProblem] = useState<string | null>(null)

  useEffect(() => {
    if (!camera) return
    let stream: MediaStream | undefined
    let timer: ReturnType<typeof setTimeout> | undefined
    let live = true
    const scan = async (): Promise<void> => {
      if (!live || video.current === null) return
      if (video.current.readyState >= 2) {
        try {
          const text = await decodeQr(video.current)
          if (text !== null && live) { onScan(text); setCamera(false); return }
        } catch (err) { setProblem(`Could not read the camera picture: ${(err as Error).message}`) }
      }
      timer = setTimeout(() => { void scan() }, 250)
    }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } }).then(async s => {
      stream = s
      if (!live) { for (const t of s.getTracks()) t.stop(); return }
      if (video.current !== null) {
        video.current.srcObject = s
        await video.current.play()
        void scan()
      }
    }).catch((err: Error) => {
      setProblem(`The camera is not available (${err.message}). Upload a photo of the label instead.`)
      setCamera(false)
    })
    return () => {
      live = false
      clearTimeout(timer)
      for (const t of stream?.getTracks() ?? []) t.stop()
    }
  }, [camera, onScan])

  const onFile = async (file: File | undefined): Promise<void> => {
    if (file === undefined) return
    setProblem(null)
    try {
      // barcode-detector decodes the file itself: the browser's image decoder, else ZXing's own.
      const text = await decodeQr(file)
      if (text === null) setProblem('No QR code found in that photo. Try a sharper, closer photo of the label.')
      else onScan(text)
    } catch (err) {
      setProblem(`Could not read that photo: ${(err as Error).message}`)
    }
  }

  return (
    <div className='qr-scanner'>
      <div className='row'>
        {cameraAvailable() && (
          <button type='button' className='secondary' onClick={() => { setProblem(null); setCamera(c => !c) }}>
            {camera ? 'Stop camera' : 'Scan with camera'}
          </button>
        )}
        <label>
          Photo of the QR label
          <input type='file' accept='image/*' onChange={e => { void onFile(e.target.files?.[0]) }} />
        </label>
      </div>
      {camera && <video ref={video} muted playsInline aria-label='Camera' />}
      {problem !== null && <p className='error-text' role='alert'>{problem}</p>}
    </div>
  )
}
