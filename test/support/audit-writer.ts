// A second process appending to the audit of a store another process appends to at the same time
// (test/policy/audit.test.ts): argv = db file, label, rows.
import { openDb } from '../../src/store/db.js';
import { AuditLog } from '../../src/policy/audit.js';

const [file, label, n] = process.argv.slice(2) as [string, string, string];
const db = openDb(file);
const audit = new AuditLog(db);
for (let i = 0; i < Number(n); i++) {
  audit.record({ repo: `/repo/${label}`, origin: 'daemon', action: { type: 'reload', detail: `${label} ${i}` } }, { validate: { decision: 'allow' } });
}
db.close();
