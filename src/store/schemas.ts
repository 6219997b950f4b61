// Every area's migrations, imported for their registration side effect so openDb() applies all of them.
import './core-schema.js';
import './scale-schema.js';
import './spend-schema.js';
import './audit-schema.js';
import './plugin-trust-schema.js';
import './proposal-schema.js';
import './approval-schema.js';
import './decision-schema.js';
