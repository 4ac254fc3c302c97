// The default dock app (npm start): shows the dock's name on its background
// and a clock that ticks every second.
import { KvStore, ImageStore } from 'datastore';
import { Splashscreen } from 'splashscreen';
import { wakeup } from 'wakeup';
import { DockInfo } from 'dock';

const kv = new KvStore();
const name = kv.get('dock_name') || 'DL-7450';
Splashscreen.setBackground(new ImageStore().getToken('default'));
Splashscreen.addTextBox(`${name}`, 40, 40);
const boots = Number(kv.get('boot_count') || 0) + 1;
kv.set('boot_count', boots);
console.log(`${name} (dock ${DockInfo().dockId().slice(0, 12)}…): boot number ${boots}`);
let ticks = 0;
let clock = Splashscreen.addTextBox('up 0 s', 40, 100);
wakeup(() => {
  ticks++;
  Splashscreen.removeTextBox(clock);
  clock = Splashscreen.addTextBox(`up ${ticks} s`, 40, 100);
}, 1000, 1000);
