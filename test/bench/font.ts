// A 5×7 bitmap font for the chart's labels: upper-case letters, digits and a little punctuation
// (lower case is drawn as upper case). Each glyph is its character followed by seven rows as two
// hex digits each, the low five bits of a row being its pixels from left to right.

const GLYPHS =
  'A0e11111f111111B1e11111e11111eC0e11101010110eD1e11111111111eE1f10101e10101fF1f10101e101010' +
  'G0e11101711110fH1111111f111111I0e04040404040eJ0702020202120cK11121418141211L1010101010101f' +
  'M111b1515111111N11111915131111O0e11111111110eP1e11111e101010Q0e11111115120dR1e11111e141211' +
  'S0f10100e01011eT1f040404040404U1111111111110eV11111111110a04W1111111515150aX11110a040a1111' +
  'Y1111110a040404Z1f01020408101f00e11131519110e1040c040404040e20e11010204081f31f02040201110e' +
  '402060a121f020251f101e0101110e60608101e11110e71f01020408080880e11110e11110e90e11110f01020c' +
  '.00000000000c0c,000000000c0408-0000001f000000:000c0c000c0c00/00010204081000=00001f001f0000' +
  '(02040808080402)08040202020408>08040201020408<02040810080402%18190204081303+0004041f040400' +
  '_0000000000001f?0e110102040004';

const FONT = new Map<string, number[]>();
for (let i = 0; i < GLYPHS.length; i += 15) {
  const rows = GLYPHS.slice(i + 1, i + 15).match(/../g) ?? [];
  FONT.set(GLYPHS[i]!, rows.map((r) => parseInt(r, 16)));
}

export const GLYPH_WIDTH = 5;
export const GLYPH_HEIGHT = 7;
/** Horizontal distance between two characters, in font pixels. */
export const ADVANCE = 6;

/** Calls `plot` for every lit font pixel of `text` (unknown characters are blank). */
export function rasterize(text: string, plot: (x: number, y: number) => void): void {
  [...text.toUpperCase()].forEach((ch, i) => {
    const rows = FONT.get(ch);
    if (!rows) return;
    rows.forEach((bits, y) => {
      for (let x = 0; x < GLYPH_WIDTH; x++) if (bits & (1 << (GLYPH_WIDTH - 1 - x))) plot(i * ADVANCE + x, y);
    });
  });
}
