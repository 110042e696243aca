// Checks a FOS ledger inclusion bundle in the browser, with nothing but the bundle and WebCrypto:
// the record's RFC 9162 leaf hash, the inclusion proof up to the checkpoint's root, the checkpoint's
// Ed25519 signature (C2SP signed note) and the key id. Mirrors fos_ledger::InclusionBundle::verify.
"use strict";

const te = new TextEncoder();

function b64decode(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function b64encode(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(...parts) {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

const leafHash = (record) => sha256(concat(new Uint8Array([0]), record));
const nodeHash = (l, r) => sha256(concat(new Uint8Array([1]), l, r));

function equal(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

// RFC 9162 §2.1.3.2: the root an inclusion proof leads to. Sizes fit in 2^53 (BigInt not needed).
async function rootFromInclusion(index, size, leaf, proof) {
  if (!(index < size)) throw new Error(`index ${index} is not below the tree size ${size}`);
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) throw new Error("the proof is longer than the tree is deep");
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error("the proof is shorter than the tree is deep");
  return r;
}

// A checkpoint note: body text (4 lines) and signature lines "— name base64(keyid ‖ sig)".
function parseNote(note) {
  const cut = note.lastIndexOf("\n\n");
  if (cut < 0) throw new Error("the checkpoint has no signature block");
  const text = note.slice(0, cut + 1);
  const sigs = note
    .slice(cut + 2)
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => {
      const m = /^\u2014 (\S+) (\S+)$/.exec(l);
      if (!m) throw new Error(`malformed signature line ${JSON.stringify(l)}`);
      const blob = b64decode(m[2]);
      return { name: m[1], id: blob.slice(0, 4), sig: blob.slice(4) };
    });
  const lines = text.slice(0, -1).split("\n");
  if (lines.length !== 4) throw new Error(`a checkpoint body has 4 lines, this one has ${lines.length}`);
  const ts = /^timestamp-ms (\d+)$/.exec(lines[3]);
  if (!/^\d+$/.test(lines[1]) || !ts) throw new Error("malformed checkpoint body");
  return {
    text,
    sigs,
    origin: lines[0],
    size: Number(lines[1]),
    root: b64decode(lines[2]),
    timestampMs: Number(ts[1]),
  };
}

// "name+keyid+base64(0x01 ‖ key)" → {name, id (hex), key (32 bytes)}, key id checked.
async function parseVerifierKey(vkey) {
  const a = vkey.indexOf("+");
  const b = vkey.indexOf("+", a + 1);
  if (a < 0 || b < 0) throw new Error("expected name+keyid+key");
  const name = vkey.slice(0, a);
  const id = vkey.slice(a + 1, b);
  const material = b64decode(vkey.slice(b + 1));
  if (material.length !== 33 || material[0] !== 1) throw new Error("not an Ed25519 verifier key");
  const key = material.slice(1);
  const want = (await sha256(concat(te.encode(name + "\n"), new Uint8Array([1]), key))).slice(0, 4);
  if (hex(want) !== id) throw new Error("the verifier key's id does not match its key");
  return { name, id, key };
}

// Verifies a bundle (the JSON of `fos audit prove` / GET /api/ledger/records/{index}). Returns what it
// proves, or throws naming the first check that failed. `trustedKey`, when given, must equal the
// bundle's verifier key.
async function verifyBundle(bundle, trustedKey) {
  if (bundle.format !== "fos-ledger-inclusion/v1") throw new Error(`unsupported bundle format ${bundle.format}`);
  if (trustedKey && trustedKey !== bundle.verifier_key) throw new Error("the bundle is signed by another key than the site's");
  const vk = await parseVerifierKey(bundle.verifier_key);
  const cp = parseNote(bundle.checkpoint);
  if (cp.origin !== vk.name) throw new Error(`the key is named ${vk.name} but the checkpoint's origin is ${cp.origin}`);
  const sig = cp.sigs.find((s) => s.name === vk.name && hex(s.id) === vk.id);
  if (!sig) throw new Error("the checkpoint carries no signature by the log's key");
  const pub = await crypto.subtle.importKey("raw", vk.key, { name: "Ed25519" }, false, ["verify"]);
  const ok = await crypto.subtle.verify({ name: "Ed25519" }, pub, sig.sig, te.encode(cp.text));
  if (!ok) throw new Error("the checkpoint's signature does not verify");
  const record = b64decode(bundle.record);
  const leaf = await leafHash(record);
  const root = await rootFromInclusion(bundle.index, cp.size, leaf, bundle.proof.map(b64decode));
  if (!equal(root, cp.root)) throw new Error(`record ${bundle.index} is not in the tree of size ${cp.size}: the proof leads to another root`);
  return {
    origin: cp.origin,
    index: bundle.index,
    treeSize: cp.size,
    root: b64encode(cp.root),
    timestampMs: cp.timestampMs,
    leafHash: hex(leaf),
    record: new TextDecoder().decode(record),
  };
}

const FosLedger = { verifyBundle, rootFromInclusion, leafHash, parseNote, parseVerifierKey, hex };
if (typeof module !== "undefined") module.exports = FosLedger;
if (typeof window !== "undefined") window.FosLedger = FosLedger;
