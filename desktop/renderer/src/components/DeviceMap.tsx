// An offline plan of the devices from their positions (Leaflet, CRS.Simple: no tiles needed), markers
// clickable; a street tile layer only when one is configured and a tile loads.
import { useEffect, useRef, useState, type ReactNode } from 'react'
import L from 'leaflet'
import 'leaflet/dist/leaflet.css'
import type { Device } from '../data/types.ts'

export interface DeviceMapProps {
  devices: Device[]
  selected?: string | null
  onSelect?: (id: string) => void
  /** A tile URL template (`https://…/{z}/{x}/{y}.png`); used only if a tile loads. */
  tileUrl?: string
}

async function reachable (template: string): Promise<boolean> {
  const url = template.replace('{s}', 'a').replace('{z}', '0').replace('{x}', '0').replace('{y}', '0').replace('{r}', '')
  return await new Promise(resolve => {
    const img = new Image()
    const timer = setTimeout(() => { resolve(false) }, 3000)
    img.onload = () => { clearTimeout(timer); resolve(true) }
    img.onerror = () => { clearTimeout(timer); resolve(false) }
    img.src = url
  })
}

export function DeviceMap ({ devices, selected = null, onSelect, tileUrl }: DeviceMapProps): ReactNode {
  const element = useRef<HTMLDivElement>(null)
  const [tiles, setTiles] = useState(false)
  const placed = devices.filter(d => d.position !== null)

  useEffect(() => {
    let live = true
    if (tileUrl !== undefined) void reachable(tileUrl).then(ok => { if (live) setTiles(ok) })
    return () => { live = false }
  }, [tileUrl])

  useEffect(() => {
    if (element.current === null || placed.length === 0) return
    const map = L.map(element.current, {
      crs: tiles ? L.CRS.EPSG3857 : L.CRS.Simple, minZoom: tiles ? 2 : -4, maxZoom: tiles ? 19 : 22, attributionControl: tiles, zoomSnap: 0.25
    })
    if (tiles && tileUrl !== undefined) L.tileLayer(tileUrl, { maxZoom: 19 }).addTo(map)
    // CRS.Simple is flat: latitude up, longitude right is a fair plan for a neighbourhood.
    const points = placed.map(d => L.latLng(d.position!.lat, d.position!.lon))
    const markers: Array<[typeof placed[number], L.CircleMarker]> = []
    for (const device of placed) {
      const on = device.meter?.relay === true
      const marker = L.circleMarker([device.position!.lat, device.position!.lon], {
        radius: device.id === selected ? 11 : 8,
        color: device.id === selected ? '#1f5c42' : '#2f7d5b',
        weight: device.id === selected ? 3 : 2,
        fillColor: on ? '#ffd54a' : '#9aa8a0',
        fillOpacity: 0.9
      }).addTo(map)
      // An element, not a string: Leaflet puts a string in as HTML, and a label is anyone's text.
      const name = document.createElement('span')
      name.textContent = device.label
      marker.bindTooltip(name, { permanent: true, direction: 'top', offset: [0, -8] })
      marker.on('click', () => { onSelect?.(device.id) })
      markers.push([device, marker])
    }
    const bounds = L.latLngBounds(points)
    if (points.length === 1) map.setView(points[0]!, tiles ? 17 : 14)
    else map.fitBounds(bounds.pad(0.25), { maxZoom: tiles ? 18 : 20 })
    // A marker is a button for keyboards and screen readers too. Leaflet draws it as an SVG path once
    // the map has a view (just above), not before.
    for (const [device, marker] of markers) {
      const path = marker.getElement()
      if (path === undefined) continue
      path.setAttribute('role', 'button')
      path.setAttribute('tabindex', '0')
      path.setAttribute('aria-label', device.label)
      path.setAttribute('aria-pressed', String(device.id === selected))
      path.addEventListener('keydown', event => {
        const key = (event as KeyboardEvent).key
        if (key === 'Enter' || key === ' ') { event.preventDefault(); onSelect?.(device.id) }
      })
    }
    return () => { map.remove() }
  }, [placed.map(d => `${d.id}:${d.position?.lat}:${d.position?.lon}:${d.meter?.relay}`).join(','), selected, tiles, tileUrl])

  if (placed.length === 0) return <p className='muted'>No device has a position on the map.</p>
  return <div ref={element} className='device-map' role='region' aria-label='Map of devices' />
}
