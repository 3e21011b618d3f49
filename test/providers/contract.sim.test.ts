import { providerContract } from './contract.js';
import { simTarget } from './targets.js';

providerContract('sim', simTarget);
