import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runInNewContext } from 'node:vm';
import { staticSnapshotRewrite, SnapshotRewriteError } from '../flash-scripts/toolchain/snapshot-rewrite.ts';
import { snapshotSource, thisAfterSuper } from '../flash-scripts/toolchain/jerry-snapshot.ts';
import { JerryHost } from '../simulator/engine/jerryscript/jerry-host.ts';
import { seededRandom } from '../simulator/seeded-random.ts';
import { JERRY_SKIP } from './support/engines.ts';

const rewrite = suite('the firmware as a JerryScript static snapshot: the source rewrite');

/** JerryScript 3.0's direct integers (ecma-globals.h, float64 numbers): what a static snapshot may hold. */
const DIRECT_MIN = -0x8000000;
const DIRECT_MAX = 0x7ffffff;

/** The program's value (or what it left in globalThis.out) as JSON: compared across fresh contexts. */
function run(code: string): string {
  const context: { out?: unknown } = {};
  const value = runInNewContext(code, context);
  return JSON.stringify(context.out !== undefined ? context.out : value);
}

/** The numbers the code names outside its strings (the rewrite writes its floats as strings). */
function numberLiterals(code: string): number[] {
  const outsideStrings = code.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return (outsideStrings.match(/(?<![\w$.])(?:0[xX][0-9a-fA-F]+|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)/g) ?? []).map(Number);
}

rewrite('numbers: every value the same, and none left outside the direct range (seeded)', () => {
  const random = seededRandom(1307);
  for (let round = 0; round < 200; round++) {
    const parts: string[] = [];
    for (let i = 0; i < 8; i++) {
      const kind = Math.floor(random() * 5);
      const magnitude = 2 ** Math.floor(random() * 53);
      const n = Math.floor(random() * magnitude);
      if (kind === 0) parts.push(String(n));
      else if (kind === 1) parts.push(`0x${n.toString(16)}`);
      else if (kind === 2) parts.push(String(random() * magnitude));
      else if (kind === 3) parts.push(`${n}e${Math.floor(random() * 30)}`);
      else parts.push(`-${n}`);
    }
    const code = `[${parts.join(',')}]`;
    const out = staticSnapshotRewrite(code).code;
    assert.is(run(out), run(code), code);
    for (const v of numberLiterals(out)) assert.ok(Number.isInteger(v) && v >= DIRECT_MIN && v <= DIRECT_MAX, `${v} left in ${out}`);
  }
});

rewrite('regular expressions become RegExp objects, divisions stay divisions, strings and templates are untouched', () => {
  const code = [
    'var a=12,b=3,c=2,x=[],s="4294967296 /x/g",t=`a/${b/c}/${"/q/"}4294967296`;',
    'function f(v){return/^a+b$/i.test(v)}',
    'var g=a/b/c,h=(a)/b,k=x.length/2,m=[a][0]/b,n=a++/2,o=typeof/x/;',
    'var r=[/[/]+/.source,/\\//.test("/"),f("AAB"),"aab".replace(/a/g,"c"),!/z/.test("q")&&/q/.test("q"),a?/y/:0];',
    '[g,h,k,m,n,o,r,s,t]',
  ].join('');
  const result = staticSnapshotRewrite(code);
  assert.is(result.regexes, 8);
  assert.ok(!/return new RegExp\("\^a\+b\$","i"\)/.test(code) && /return new RegExp\("\^a\+b\$","i"\)/.test(result.code), 'a space after return');
  assert.ok(result.code.includes('"4294967296 /x/g"') && result.code.includes('"/q/"}4294967296`'), 'strings and template text stay as they were');
  assert.is(run(result.code), run(code));
});

rewrite('a class without a constructor gets the one the language implies; one that has it keeps it', () => {
  const code = [
    'class A{get v(){return this.w??1}}',
    'class B extends A{m(){return 2}}',
    'var C=class extends (function(){return B})(){static of(){return new C(5)}},',
    'D=class{constructor(x){this.w=x}};',
    'class E extends D{constructor(){super(7)}}',
    'var o={constructor:1,x:class{}};',
    '[new A().v,new B().m(),C.of().v,new D(3).w,new E().w,new o.x()instanceof o.x,o.constructor]',
  ].join('');
  const result = staticSnapshotRewrite(code);
  assert.is(result.constructors, 4, 'A, B, C and the class in o');
  assert.is(run(result.code), run(code));
});

rewrite('what a static snapshot cannot hold and the rewrite cannot move is refused, not shipped', () => {
  const refused = (e: unknown) => e instanceof SnapshotRewriteError;
  assert.throws(() => staticSnapshotRewrite('var x=10n'), refused);
  assert.throws(() => staticSnapshotRewrite('var x={4294967296:1}'), refused);
  assert.throws(() => staticSnapshotRewrite('var x="open'), refused);
  assert.is(thisAfterSuper('class A extends B{constructor(e){var J=this;super(e),J.x=1}}'), 'class A extends B{constructor(e){var J;super(e),J=this,J.x=1}}');
  assert.throws(() => thisAfterSuper('class A extends B{constructor(e){var J=this;super(e.x)}}'), /captures this before super/);
});

rewrite('a derived constructor whose this capture cannot move after super() is refused with its place: an arrow using this and arguments, a conditional super(), super() of an expression', () => {
  const cases: [string, RegExp][] = [
    ['class A extends B{constructor(s){super(s);this.f=()=>[this.x,arguments[0]]}}', /both this and arguments/],
    ['class A extends B{constructor(s){if(s)super(s);else super();this.f=()=>this.x}}', /not the constructor's first statement/],
    ['class A extends B{constructor(s){s?super(s):super();this.f=()=>this.x}}', /not the constructor's first statement/],
    ['class A extends B{constructor(s){super(s.y);this.f=()=>this.x}}', /taking an expression/],
  ];
  for (const [code, shape] of cases) {
    // Through the whole snapshot source path, as the build runs it (esbuild lowers the arrows first).
    let error: unknown;
    try {
      snapshotSource(code);
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof SnapshotRewriteError, `${code}: refused with a typed error`);
    const message = (error as Error).message;
    assert.match(message, shape, code);
    const column = Number(/at line 1, column (\d+) of the snapshot source/.exec(message)?.[1]);
    assert.ok(column > 0 && /constructor\(s\)\{var [\w$]+=this/.test(message), `${code}: located (${message})`);
  }
  // The shapes that can move still do, and a plain function capturing this is left alone.
  assert.is(run(snapshotSource('class B{constructor(v){this.v=v}}class A extends B{constructor(s){super(s);this.f=()=>this.v*2}}globalThis.out=new A(4).f()')), '8');
  assert.is(run(snapshotSource('globalThis.out=[5].map(function(k){return[1].map(()=>this.m*k)[0]},{m:3})[0]')), '15');
});

rewrite('a minified name `of` divides (it is a keyword only after a for binding); a string-named "constructor" method is the constructor', () => {
  const division = 'var of=12,x=of/2/1,y=[of/3/2],z=(of)/4/1;for(const q of/b+/.exec("abb"))globalThis.out=[x,y,z,q]';
  const r = staticSnapshotRewrite(division);
  assert.is(r.regexes, 1, 'only the regex after a for binding');
  assert.is(run(r.code), run(division));
  assert.is(run(division), '[6,[2],3,"bb"]');
  const named = `class B{constructor(){this.b=1}}class A extends B{'constructor'(){super();this.x=2}}class C{"constructor"(v){this.c=v}static "constructor"(){return 0}}class D{["constructor"](){return 4}}globalThis.out=[new A().x,new A().b,new C(3).c,new D()["constructor"]()]`;
  const n = staticSnapshotRewrite(named);
  assert.is(n.constructors, 1, 'B has one, A and C name theirs as strings; only D gets one (a computed key names a method)');
  assert.is(run(n.code), run(named));
  assert.is(run(named), '[2,1,3,4]');
});

rewrite('the lowered snapshot source computes what the source computes (arrows, this in derived constructors)', () => {
  const code = 'class A{constructor(v){this.v=v}} class B extends A{constructor(v){super(v);this.f=[1,2].map((k)=>this.v*k)}} globalThis.out=[new B(3).f,((...a)=>a.length)(1,2,3)]';
  const lowered = snapshotSource(code);
  assert.not.ok(lowered.includes('=>'), 'no arrow function is left');
  assert.is(run(lowered), '[[3,6],3]');
  assert.is(run(code), '[[3,6],3]');
});

if (JERRY_SKIP) console.log(`skipped: static snapshots on JerryScript: ${JERRY_SKIP}`);
else
  rewrite('on JerryScript 3.0: a program with arrows, implicit constructors, big numbers and regexes runs from a static snapshot as from source', async () => {
    const code = [
      'class Base{get crc(){return 0xedb88320>>>0}}',
      'class Child extends Base{twice(){return [1,2].map((k)=>k*this.crc)}}',
      'var big=4294967296,frac=0.3,re=/^(\\d{4})-(\\d{2})$/;',
      'globalThis.out=JSON.stringify([new Child().twice(),big+1,frac*10,re.exec("2026-11").slice(1),"x".repeat(3)]);',
    ].join('');
    const fromSource = await JerryHost.start({ partitions: {} });
    const fromSnapshot = await JerryHost.startWithFirmware({ partitions: {} }, code);
    try {
      fromSource.eval(code);
      assert.is(fromSnapshot.firmwareLoad, 'static-snapshot');
      assert.is(fromSnapshot.eval('globalThis.out'), fromSource.eval('globalThis.out'));
      assert.is(fromSource.eval('globalThis.out'), JSON.stringify([[3988292384, 7976584768], 4294967297, 3, ['2026', '11'], 'xxx']));
    } finally {
      fromSource.dispose();
      fromSnapshot.dispose();
    }
  });

rewrite.run();
