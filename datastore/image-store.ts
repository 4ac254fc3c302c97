// ImageStore: images across the tiers, checked with images/ before they are
// stored, handed out as copies (get) or as tokens that never copy the image
// into the script heap (getToken; the display reads through the token).

import { checkImage, headDimensions } from '../images/image-check.ts';
import { isImageType, NONE, type ImageType } from '../images/image-type.ts';
import { storeScope, type ScopeOptions } from './tiers/store-scope.ts';
import { APPLICATION_DATA, FACTORY_DATA, LOOKUP_ORDER, TIER_NAMES, type Durability, type ItemRef, type Tier, type TierSet } from './tiers/tier-set.ts';
import { NotFoundError, TierError, TokenInvalidError } from './tiers/tier-errors.ts';

/** A small opaque handle: which tier, which image, which version of it. */
export interface ImageToken {
  readonly tier: Tier;
  readonly tag: string;
  readonly type: ImageType;
  readonly size: number;
  readonly version: number;
}

export interface ImageInfoView {
  tag: string;
  tier: string;
  type: ImageType;
  size: number;
  writtenAt: number;
  width?: number;
  height?: number;
}

export class ImageStore {
  private readonly tiers: TierSet;
  private readonly tier: Tier | undefined;
  private readonly durability: Durability | undefined;
  /** The vendor SDK's name for getToken (the same function). */
  declare get_token: (tag: string) => ImageToken;

  constructor(options: Tier | (ScopeOptions & { durability?: Durability }) = {}) {
    ({ tiers: this.tiers, tier: this.tier } = storeScope(options));
    this.durability = typeof options === 'number' ? undefined : options.durability;
  }

  /**
   * Tags of images across tiers (or one), each once; optionally only of one
   * type. With `limit`, one page after the tag `after` (as KvStore.list);
   * without, refused with TierError 'list-too-large' when too many.
   */
  list(filter: { prefix?: string; tier?: Tier; type?: ImageType; after?: string; limit?: number } = {}): string[] {
    const tier = filter.tier ?? this.tier;
    const tiers = tier === undefined ? LOOKUP_ORDER : [tier];
    const ofType = (t: string) => filter.type === undefined || this.tiers.find('image', t, tier)?.encoding === filter.type;
    if (filter.limit === undefined) {
      if (filter.after !== undefined) throw new TierError('limit-invalid', 'list({ after }) needs a limit: list({ prefix, after, limit })');
      return this.tiers.names('image', tiers, filter.prefix ?? '').filter(ofType);
    }
    const out: string[] = [];
    let after = filter.after;
    for (;;) {
      const page = this.tiers.namesPage('image', tiers, filter.prefix ?? '', after, filter.limit);
      for (const t of page) {
        if (out.length >= filter.limit) break; // a full page reads no more headers
        if (ofType(t)) out.push(t);
      }
      if (out.length >= filter.limit || page.length < filter.limit) return out;
      after = page[page.length - 1];
    }
  }

  /** [bytes copied into the heap, type]; [empty, NONE] when no tier has the tag. */
  get(tag: string): [Uint8Array, ImageType] {
    const found = this.tiers.fetch('image', tag, this.tier);
    if (!found) return [new Uint8Array(0), NONE];
    return [found.bytes, found.ref.encoding as ImageType];
  }

  /** A token for the image as it is now; reading it never copies the whole image into the heap. */
  getToken(tag: string): ImageToken {
    const ref = this.tiers.find('image', tag, this.tier);
    if (!ref) throw new NotFoundError(`image "${tag}"`);
    return Object.freeze({ tier: ref.tier, tag, type: ref.encoding as ImageType, size: ref.size, version: ref.version });
  }

  /**
   * Read part of the image a token names (for the display). Fails with
   * TokenInvalidError if that version was deleted or replaced: never other bytes.
   */
  readToken(token: ImageToken, offset: number, into: Uint8Array): number {
    const ref = this.resolve(token);
    return this.tiers.readRange(ref, offset, into);
  }

  /** Validate, then store. The runtime tier unless one is named. */
  put(tag: string, bytes: Uint8Array, type: ImageType, options: { tier?: Tier; durability?: Durability } = {}): void {
    if (typeof tag !== 'string' || tag === '') throw new TierError('tag-invalid', 'an image tag must be a non-empty string');
    if (!isImageType(type)) throw new TierError('type-invalid', `image type ${String(type)} is not NONE, PNG, BMP or JPEG`);
    checkImage(bytes, type, `image "${tag}"`);
    this.tiers.write('image', tag, bytes, type, options.tier ?? this.tier ?? APPLICATION_DATA, options.durability ?? this.durability);
  }

  delete(tag: string, options: { tier?: Tier } = {}): boolean {
    return this.tiers.remove('image', tag, options.tier ?? this.tier ?? APPLICATION_DATA);
  }

  info(tag: string): ImageInfoView | undefined {
    const ref = this.tiers.find('image', tag, this.tier);
    if (!ref) return undefined;
    const view: ImageInfoView = { tag, tier: TIER_NAMES[ref.tier], type: ref.encoding as ImageType, size: ref.size, writtenAt: ref.writtenAt };
    const dims = this.dimensions(ref);
    if (dims) {
      view.width = dims.width;
      view.height = dims.height;
    }
    return view;
  }

  private dimensions(ref: ItemRef): { width: number; height: number } | undefined {
    const item = ref.tier === FACTORY_DATA ? this.tiers.factory?.info('image', ref.name) : undefined;
    if (item && item.width) return { width: item.width, height: item.height ?? 0 };
    // The size sits in the first bytes (a JPEG's frame header usually within the first kilobyte).
    const head = new Uint8Array(Math.min(1024, ref.size));
    const n = this.tiers.readRange(ref, 0, head);
    return headDimensions(head.subarray(0, n), ref.encoding as ImageType);
  }

  private resolve(token: ImageToken): ItemRef {
    const ref = this.tiers.find('image', token.tag, token.tier);
    if (!ref) throw new TokenInvalidError(`image "${token.tag}" was deleted from the ${TIER_NAMES[token.tier]} tier`);
    if (ref.version !== token.version || ref.size !== token.size) throw new TokenInvalidError(`image "${token.tag}" was replaced`);
    return ref;
  }
}

ImageStore.prototype.get_token = ImageStore.prototype.getToken;
