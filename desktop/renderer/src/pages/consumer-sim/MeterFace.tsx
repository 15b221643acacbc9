// A household meter: the reading in kWh, a disc that turns while power flows, the power now.
import type { ReactNode } from 'react'

export function MeterFace ({ readingWh, watts, turning }: { readingWh: number, watts: number, turning: boolean }): ReactNode {
  const digits = (readingWh / 1000).toFixed(3).padStart(9, '0')
  return (
    <figure className='meter-face' aria-label='Household meter'>
      <div className='meter-reading' aria-label='Meter reading'>{digits} kWh</div>
      <svg width='160' height='40' viewBox='0 0 160 40' aria-hidden='true'>
        <ellipse cx='80' cy='20' rx='70' ry='9' fill='#c9d1cb' stroke='#7a857e' />
        <rect className={turning ? 'meter-mark turning' : 'meter-mark'} x='76' y='11' width='8' height='18' fill='#b83232' />
      </svg>
      <figcaption>{turning ? `Turning: ${watts} W` : 'Still: no power drawn'}</figcaption>
    </figure>
  )
}
