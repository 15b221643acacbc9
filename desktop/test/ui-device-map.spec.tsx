// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest'
import { cleanup, fireEvent, render, screen } from '@testing-library/react'
import { DeviceMap } from '../renderer/src/components/DeviceMap.tsx'
import { fixtureDevices, ids } from './ui-fixture.tsx'

afterEach(() => { cleanup() })

describe('device map', () => {
  it('names each device as text, never as markup: a label is anyone\'s text', () => {
    const [household, lamp] = fixtureDevices() as [ReturnType<typeof fixtureDevices>[number], ReturnType<typeof fixtureDevices>[number]]
    const label = '<img src="https://tracker.example/seen.png">Plaza lamp'
    render(<DeviceMap devices={[household, { ...lamp, label }]} />)
    const map = screen.getByRole('region', { name: 'Map of devices' })
    const tooltips = [...map.querySelectorAll('.leaflet-tooltip')].map(t => t.textContent)
    expect(tooltips).toEqual(['household 0', label])
    expect(map.querySelector('img')).toBeNull()
  })

  it('chooses a device when its marker is clicked', () => {
    const onSelect = vi.fn()
    render(<DeviceMap devices={fixtureDevices()} onSelect={onSelect} />)
    fireEvent.click(screen.getByRole('button', { name: 'Plaza lamp' }))
    expect(onSelect).toHaveBeenCalledExactlyOnceWith(ids.lamp)
  })
})
