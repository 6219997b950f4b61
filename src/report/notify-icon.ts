import fs from 'node:fs';
import path from 'node:path';
import { trayIconPng } from './tray-icons.js';

/**
 * The one icon every Kairos notification carries: the tray's "watching" disc, written once as
 * $KAIROS_HOME/icons/kairos.png (notification servers take an icon as a file path or a theme name,
 * and Kairos installs no theme icon). Returns the absolute path, or undefined when it cannot be written.
 */
export function notificationIcon(home: string): string | undefined {
  const file = path.join(home, 'icons', 'kairos.png');
  try {
    const png = trayIconPng('watching');
    if (!fs.existsSync(file) || !fs.readFileSync(file).equals(png)) {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      fs.writeFileSync(file, png, { mode: 0o644 });
    }
    return file;
  } catch {
    // No icon file: the notification is shown without an icon. Nothing else depends on it.
    return undefined;
  }
}
