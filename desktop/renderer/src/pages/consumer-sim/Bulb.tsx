// A bulb that is a button: lit while its load is switched on and its meter reports the relay on and power drawn.
import type { ReactNode } from 'react'

export function Bulb ({ lit, pressed, disabled, onClick }: { lit: boolean, pressed: boolean, disabled?: boolean, onClick: () => void }): ReactNode {
  return (
    <button type='button' className='bulb' aria-pressed={pressed} disabled={disabled} onClick={onClick}
      aria-label={pressed ? 'Bulb switch: on (click to switch off)' : 'Bulb switch: off (click to switch on)'}>
      <svg width='140' height='190' viewBox='0 0 140 190' aria-hidden='true'>
        {lit && <circle cx='70' cy='70' r='66' fill='#ffe58a' opacity='0.45' />}
        <path d='M70 18a46 46 0 0 0-27 83c6 5 9 12 9 19v8h36v-8c0-7 3-14 9-19a46 46 0 0 0-27-83z'
          fill={lit ? '#ffd54a' : '#e4e8e5'} stroke={lit ? '#c99a06' : '#9aa8a0'} strokeWidth='3' />
        <path d='M58 126v-26l12 10 12-10v26' fill='none' stroke={lit ? '#8a6a00' : '#9aa8a0'} strokeWidth='2.5' />
        <rect x='52' y='130' width='36' height='10' rx='3' fill='#8d9891' />
        <rect x='54' y='142' width='32' height='10' rx='3' fill='#7a857e' />
        <rect x='60' y='154' width='20' height='8' rx='3' fill='#65706a' />
      </svg>
    </button>
  )
}
