export { ptyPair, type PtyPair } from '../../simulator/uart/pty-pair.ts';
