// SPDX-License-Identifier: Apache-2.0
// Maps positions in the bundled module back to the user's source files (module
// "capsule:sourcemap"), so an exception's stack names main.ts and its line. The bundler writes
// BUNDLE.map next to the bundle (source map v3, its `sources` relative to the project); it is
// read and decoded only when a stack is formatted.
const N = globalThis[Symbol.for('capsule.native')];
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const cache = new Map(); // bundle path -> { sources, lines } | null

const DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) DIGIT[B64.charCodeAt(i)] = i;

function decodeVLQ(s, pos, out) {
    let value = 0, shift = 0, i = pos;
    for (;;) {
        const c = s.charCodeAt(i++);
        const d = c < 128 ? DIGIT[c] : -1;
        if (d < 0) throw new Error('bad VLQ');
        value += (d & 31) << shift;
        shift += 5;
        if (!(d & 32)) break;
    }
    out.push(value & 1 ? -(value >>> 1) : value >>> 1);
    return i;
}

// Decodes the mappings into per-generated-line flat arrays of genCol, src, line, col (0-based),
// the form jsc writes to BUNDLE.map.json.
function decode(map) {
    const lines = [];
    let src = 0, line = 0, col = 0;
    for (const text of map.mappings.split(';')) {
        const segs = [];
        let genCol = 0;
        if (text) {
            for (const seg of text.split(',')) {
                if (!seg) continue;
                const f = [];
                let p = 0;
                while (p < seg.length) p = decodeVLQ(seg, p, f);
                genCol += f[0];
                if (f.length >= 4) {
                    src += f[1]; line += f[2]; col += f[3];
                    segs.push(genCol, src, line, col);
                }
            }
        }
        lines.push(segs);
    }
    // The bundler writes sources relative to the bundle's directory (".capsule/js/" inside the
    // project): show them relative to the project instead ("main.ts", "node_modules/x/y.js").
    return { sources: relative(map.sources || []), lines };
}

const relative = (sources) => sources.map((s) => String(s).replace(/^(\.\.\/)+/, ''));

function load(bundle) {
    if (cache.has(bundle)) return cache.get(bundle);
    let m = null;
    try {
        // BUNDLE.map.json: the mappings decoded at bundle time by jsc (flat arrays of
        // genCol, src, line, col per generated line); parsing it is native and cheap.
        const d = JSON.parse(N.utf8Decode(N.readFile(`${bundle}.map.json`), false));
        m = { sources: relative(d.sources), lines: d.lines };
    } catch {
        try {
            m = decode(JSON.parse(N.utf8Decode(N.readFile(`${bundle}.map`), false)));
        } catch {
            m = null;
        }
    }
    cache.set(bundle, m);
    return m;
}

/** The original [source, line, column] (1-based) of a position in the bundle, or null. */
export function originalPosition(bundle, line, column) {
    const m = load(bundle);
    if (!m || line < 1 || line > m.lines.length) return null;
    const segs = m.lines[line - 1];
    let best = -1;
    for (let i = 0; i + 3 < segs.length; i += 4) {
        if (segs[i] <= column - 1) best = i;
        else break;
    }
    if (best < 0 && segs.length >= 4) best = 0;
    if (best < 0) return null;
    return [m.sources[segs[best + 1]] || '?', segs[best + 2] + 1, segs[best + 3] + 1];
}

/** Rewrites "BUNDLE:LINE:COL" (and "BUNDLE:LINE") in a stack to the original positions. */
export function mapStack(stack, bundle) {
    if (!bundle || !stack.includes(bundle)) return stack;
    const esc = bundle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return stack.replace(new RegExp(`${esc}:(\\d+)(?::(\\d+))?`, 'g'), (all, l, c) => {
        const p = originalPosition(bundle, Number(l), c ? Number(c) : 1);
        return p ? `${p[0]}:${p[1]}${c ? `:${p[2]}` : ''}` : all;
    });
}
