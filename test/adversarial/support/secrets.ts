/**
 * Fake secrets shaped like the real thing (right prefixes, lengths and alphabets), so the redaction
 * rules see what they would see in a leaked file. None of them is, or was ever, a valid credential.
 * Each is unique text, so finding it anywhere means it leaked.
 */
export const SECRETS = {
  anthropicKey: 'sk-ant-api03-KairosAdversarialFakeKey0000000000000000000000000000000000000000000000000000000000000000000AA',
  awsAccessKeyId: 'AKIAQ7XK2M4PZB3LW5NR',
  awsSecretKey: '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',
  githubToken: 'ghp_Kx7mQ2vL9pR4sT8wY1zB3nC6dF0gH5jAdvRs',
  /** The distinctive body line of the PEM block committed in the repository. */
  pemBody: 'MIIEowIBAAKCAQEAkairosAdversarialRepoPemBodyLineThatMustNeverLeaveZZ',
  /** The body line of the fake ~/.ssh/id_rsa in the fake HOME. */
  homeKeyBody: 'b3BlbnNzaC1rZXktdjEAAAAAkairosFakeHomeSshKeyBodyMustNeverLeaveQQ',
  /** A value in the committed .env file. */
  envPassword: 'Xq9vTz2LmW8rKp4NdB7s',
  stripeKey: 'sk_live_51KairosAdversarialStripeFakeKey00',
  /** Printed by the repository's check script when it fails (command output). */
  printedToken: 'ghp_PrintedByTheCheckScript0000000000000001',
  /** Printed by the hostile test file the agent runs in the sandbox. */
  sandboxPrinted: 'AKIAZPRINTEDINSANDBX',
  /** The API key the daemon itself holds: it must go in a header, never in a body, log or notification. */
  daemonApiKey: 'sk-ant-api03-DaemonOwnKeyNeverInABody000000000000000000000000000000000000000000000000000000000000000000BB',
} as const;

export function pemBlock(body: string): string {
  return `-----BEGIN RSA PRIVATE KEY-----\n${body}\nQn7Yb2kL0pR3sU6vX9zA2cE5fH8jK1mN4qT7wZ0bD3gJ6lO9rU2xA5dG8iL1oR4u\n-----END RSA PRIVATE KEY-----\n`;
}

export function openSshKey(body: string): string {
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${body}\nAAAAC3NzaC1lZDI1NTE5AAAAIKairosHomeKeySecondLineXXXXXXXXXXXXXXXXXXX\n-----END OPENSSH PRIVATE KEY-----\n`;
}

/** Every secret that occurs in `text`, by name. */
export function leaked(text: string): string[] {
  return (Object.entries(SECRETS) as Array<[string, string]>).filter(([, v]) => text.includes(v)).map(([k]) => k);
}
