/**
 * The start of a PNG as a signature image is checked (signature and IHDR with its declared
 * width and height), followed by `rest` or filler up to `size` bytes. No pixel data: the
 * service reads only the header.
 */
export function pngBytes(
  options: { width?: number; height?: number; size?: number; rest?: Buffer } = {},
): Buffer {
  const { width = 300, height = 120, size = 64 } = options;
  const header = Buffer.alloc(33);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(header, 0);
  header.writeUInt32BE(13, 8);
  header.write('IHDR', 12, 'ascii');
  header.writeUInt32BE(width, 16);
  header.writeUInt32BE(height, 20);
  header.set([8, 6, 0, 0, 0], 24); // 8-bit RGBA, no interlace; CRC left zero
  const rest = options.rest ?? Buffer.alloc(Math.max(0, size - header.length), 7);
  return Buffer.concat([header, rest]);
}
