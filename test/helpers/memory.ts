import v8 from 'node:v8';
import vm from 'node:vm';

// Live memory, not what the process has let go of: samples are taken after a full collection.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/**
 * A full collection whose dead ArrayBuffers are freed too. V8 frees the backing stores of the
 * buffers a collection finds dead on a background thread, later (concurrent ArrayBuffer
 * sweeping), so `process.memoryUsage().arrayBuffers` (and RSS) read right after one `gc()`
 * still count them: on 2 cores an upload's already-dead chunks read as 6–28 MiB "held".
 * The next collection first finishes the previous sweep, so a second one leaves only what is
 * live (0.2 MiB for the same upload).
 */
export function collect(): NodeJS.MemoryUsage {
  gc();
  gc();
  return process.memoryUsage();
}
