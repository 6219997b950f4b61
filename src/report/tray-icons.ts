import { deflateSync } from 'node:zlib';

/**
 * The tray's icons, drawn here as small PNGs: a coloured disc per state, with the pending count
 * in it. Drawn rather than shipped so the count can be any number and nothing needs locating on
 * disk (the tray binary takes the image as base64 over its stdin).
 */

export type IconState = 'watching' | 'paused' | 'budget-low' | 'pending' | 'offline';

const COLOURS: Record<IconState, [number, number, number]> = {
  watching: [0x2e, 0x9e, 0x44],
  paused: [0x8a, 0x8a, 0x8a],
  'budget-low': [0xe0, 0x8a, 0x00],
  pending: [0x2f, 0x6f, 0xdf],
  offline: [0xb0, 0x30, 0x30],
};

// 3×5 digits, one string of 15 bits per digit, row by row.
const DIGITS = ['111101101101111', '010110010010111', '111001111100111', '111001111001111', '101101111001001', '111100111001111', '111100111101111', '111001001001001', '111101111101111', '111101111001111'];
const PLUS = '000010111010000';
const BAR = '000000111000000'; // paused: a dash

const SIZE = 22;

/** A SIZE×SIZE RGBA PNG for a state; `count` (pending) is drawn in white, 10+ as "9+". */
export function trayIconPng(state: IconState, count = 0): Buffer {
  const px = Buffer.alloc(SIZE * SIZE * 4);
  const [r, g, b] = COLOURS[state];
  const c = (SIZE - 1) / 2;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const d = Math.hypot(x - c, y - c);
      // One pixel of soft edge so the disc is not jagged on a light panel.
      const alpha = Math.max(0, Math.min(1, c + 0.5 - d));
      const i = (y * SIZE + x) * 4;
      px[i] = r;
      px[i + 1] = g;
      px[i + 2] = b;
      px[i + 3] = Math.round(alpha * 255);
    }
  }
  const glyphs = state === 'pending' && count > 0 ? (count > 9 ? [DIGITS[9]!, PLUS] : [DIGITS[count]!]) : state === 'paused' ? [BAR] : [];
  const scale = glyphs.length > 1 ? 2 : 3;
  const width = glyphs.length * 3 * scale + (glyphs.length - 1) * scale;
  let left = Math.round((SIZE - width) / 2);
  const top = Math.round((SIZE - 5 * scale) / 2);
  for (const glyph of glyphs) {
    for (let gy = 0; gy < 5; gy++) {
      for (let gx = 0; gx < 3; gx++) {
        if (glyph[gy * 3 + gx] !== '1') continue;
        for (let sy = 0; sy < scale; sy++) {
          for (let sx = 0; sx < scale; sx++) {
            const i = ((top + gy * scale + sy) * SIZE + left + gx * scale + sx) * 4;
            px[i] = px[i + 1] = px[i + 2] = 255;
            px[i + 3] = 255;
          }
        }
      }
    }
    left += 4 * scale;
  }
  return encodePng(SIZE, SIZE, px);
}

function encodePng(width: number, height: number, rgba: Buffer): Buffer {
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 4 + 1)] = 0; // filter: none
    rgba.copy(raw, y * (width * 4 + 1) + 1, y * width * 4, (y + 1) * width * 4);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type RGBA
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
