// Types of the modules a dock app imports (resolved by the firmware at run time).
declare module 'datastore' {
  export { KvStore, ImageStore, CodeStore, Datastore, FACTORY_DATA, APPLICATION_DATA, EPHEMERAL_DATA } from '../datastore/index.ts';
}
declare module 'image' {
  export { NONE, PNG, BMP, JPEG } from '../images/image-type.ts';
}
declare module 'splashscreen' {
  export { Splashscreen } from './splashscreen.ts';
}
declare module 'wakeup' {
  export function wakeup(task: () => void, timeMs: number, repeatMs?: number): { cancel(): void };
}
declare module 'dock' {
  export function DockInfo(): {
    dockId(): string;
    /** From the factory line's per-dock data ('' on a dock not provisioned). */
    name(): string;
    enrolmentToken(): string;
    perDockValue(key: string): string;
  };
}
declare const console: { log(...args: unknown[]): void; error(...args: unknown[]): void };
