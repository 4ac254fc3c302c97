// SMP image group (1) over the dock's A/B factory slots, with MCUboot's
// image-state rules: upload stages and verifies an image into the slot not
// served; test marks it for one trial boot; confirm with a hash makes it
// boot for good, confirm without one keeps the running image; a restart
// without confirm after a test reverts (datastore/factory/FORMAT.md §7).

import { FactoryWriteError, type FactoryWriteProblem } from '../../datastore/factory/factory-staging.ts';
import type { FactoryService } from '../factory-service.ts';
import { IMG_ERR, RC, SmpRefusal } from './smp-errors.ts';

export const IMAGE_STATE = 0;
export const IMAGE_UPLOAD = 1;

type Body = Record<string, unknown>;

/** Factory-write problems as image-group codes (img_mgmt_err_code_t), or SMP's own for access and support. */
export function imageRefusal(e: FactoryWriteError): SmpRefusal {
  const p: FactoryWriteProblem = e.problem;
  if (p === 'locked') return new SmpRefusal(RC.ACCESS_DENIED, e.message);
  if (p === 'one-slot') return new SmpRefusal(RC.NOT_SUPPORTED, e.message);
  const code: Record<string, number> = {
    'too-large': IMG_ERR.INVALID_IMAGE_TOO_LARGE,
    'out-of-order': IMG_ERR.INVALID_OFFSET,
    incomplete: IMG_ERR.FLASH_CONTEXT_NOT_SET,
    mismatch: IMG_ERR.INVALID_HASH,
    // The manufacturer's signature is what MCUboot keeps in its TLVs.
    untrusted: IMG_ERR.INVALID_TLV,
    'not-verified': IMG_ERR.FLASH_CONTEXT_NOT_SET,
    'on-trial': IMG_ERR.IMAGE_ALREADY_PENDING,
    pending: IMG_ERR.IMAGE_ALREADY_PENDING,
  };
  return new SmpRefusal(RC.UNKNOWN, e.message, code[p] ?? IMG_ERR.UNKNOWN);
}

/** `image list`: every slot with MCUboot's flags. */
export function imageState(f: FactoryService): Body {
  const st = f.status();
  const images = st.slots.map((s) => {
    const active = s.slot === st.active;
    const pending = !active && (s.approval === 'test' || (s.approval === 'permanent' && f.pendingSlot === s.slot));
    const body: Body = { image: 0, slot: s.slot, version: `0.0.${s.generation ?? 0}` };
    if (s.sha256) body.hash = s.sha256;
    body.bootable = active || s.approval !== 'none';
    body.pending = pending;
    body.confirmed = active && !st.trial;
    body.active = active;
    body.permanent = pending && s.approval === 'permanent';
    return body;
  });
  return { images, splitStatus: 0 };
}

export function imageGroup(f: () => FactoryService, id: number, write: boolean, p: Body): Body | null {
  if (id === IMAGE_UPLOAD && write) return upload(f(), p);
  if (id === IMAGE_STATE && !write) return imageState(f());
  if (id === IMAGE_STATE && write) {
    const svc = f();
    const confirm = p.confirm === true;
    if (p.hash !== undefined && !(p.hash instanceof Uint8Array)) throw new SmpRefusal(RC.INVALID, 'hash must be bytes (the SHA-256 from image list)');
    const hash = p.hash as Uint8Array | undefined;
    if (!hash) {
      if (!confirm) throw new SmpRefusal(RC.INVALID, 'test needs the hash of the image to boot (see image list)', IMG_ERR.INVALID_HASH);
      svc.confirmRunning();
      return imageState(svc);
    }
    const slot = svc.slotByHash(hash);
    if (slot < 0) throw new SmpRefusal(RC.UNKNOWN, 'no slot holds an image with that hash (see image list)', IMG_ERR.HASH_NOT_FOUND);
    const active = svc.status().active;
    if (slot === active) {
      if (!confirm) throw new SmpRefusal(RC.UNKNOWN, 'that image is the one running: test the other slot, or confirm this one', IMG_ERR.IMAGE_SETTING_TEST_TO_ACTIVE_DENIED);
      svc.confirmRunning();
      return imageState(svc);
    }
    if (svc.pendingSlot === slot && svc.pendingPermanent === confirm) return imageState(svc); // asked twice: already so
    svc.approve(slot, confirm);
    return imageState(svc);
  }
  return null;
}

/**
 * Upload `{off, data, len and sha on the first chunk}` → `{off}`. A first
 * chunk naming an unfinished upload with the same len and sha resumes it. A
 * chunk below the dock's offset (a client resends one whose answer it did
 * not hear) changes nothing and is answered rc 0 with that offset, as
 * Zephyr's img_mgmt does: also once the upload is whole and its staging was
 * consumed by a test, confirm or commit, for the same image (len and sha,
 * where given, equal). The last chunk verifies the image (a refused one is
 * refused there, and nothing is recorded).
 */
function upload(f: FactoryService, p: Body): Body {
  const off = p.off;
  const data = p.data;
  if (typeof off !== 'number' || !(data instanceof Uint8Array)) throw new SmpRefusal(RC.INVALID, 'upload needs off (number) and data (bytes)');
  const len = typeof p.len === 'number' ? p.len : undefined;
  const sha = p.sha instanceof Uint8Array ? p.sha : undefined;
  const stored = f.storedUploadLength(len, sha);
  if (off === 0) {
    if (len === undefined) throw new SmpRefusal(RC.INVALID, 'the first upload chunk needs len', IMG_ERR.INVALID_LENGTH);
    if (!sha) throw new SmpRefusal(RC.INVALID, 'the first upload chunk needs sha (the SHA-256 of the whole image; this dock checks it)', IMG_ERR.INVALID_HASH);
    if (stored > 0) return { off: stored };
    const resumeAt = f.begin(len, sha);
    if (resumeAt > 0) return { off: resumeAt };
  } else if (off < f.received) {
    return { off: f.received };
  } else if (off < stored) {
    return { off: stored };
  }
  const at = f.write(off, data);
  if (at === f.stagingLength) f.finishUpload();
  return { off: at };
}
