import { greet } from './lib.js';
console.log(greet('a'));
