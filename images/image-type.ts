// Image type constants of the SDK's `image` module. The numbers are stored in
// factory manifests and runtime records: never renumber them.

export const NONE = 0;
export const PNG = 1;
export const BMP = 2;
export const JPEG = 3;

export type ImageType = typeof NONE | typeof PNG | typeof BMP | typeof JPEG;

const NAMES: Record<ImageType, string> = { [NONE]: 'none', [PNG]: 'png', [BMP]: 'bmp', [JPEG]: 'jpeg' };

export function imageTypeName(type: ImageType): string {
  return NAMES[type] ?? `unknown(${type})`;
}

/** The ROM-store YAML's `type:` word (png | bmp | jpeg, any case; jpg accepted), or undefined. */
export function imageTypeFromName(name: string): ImageType | undefined {
  switch (name.toLowerCase()) {
    case 'png':
      return PNG;
    case 'bmp':
      return BMP;
    case 'jpeg':
    case 'jpg':
      return JPEG;
    default:
      return undefined;
  }
}

export function isImageType(value: unknown): value is ImageType {
  return value === NONE || value === PNG || value === BMP || value === JPEG;
}
