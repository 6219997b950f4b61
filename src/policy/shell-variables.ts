/** Variables that change which program runs or what it loads: setting one is never a harmless prefix. */
const DANGEROUS_VARS = new Set([
  'PATH', 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'LD_AUDIT', 'DYLD_INSERT_LIBRARIES', 'DYLD_LIBRARY_PATH',
  'NODE_OPTIONS', 'NODE_PATH', 'BASH_ENV', 'ENV', 'SHELLOPTS', 'BASHOPTS', 'PS4', 'IFS', 'PROMPT_COMMAND',
  'PYTHONPATH', 'PYTHONSTARTUP', 'PYTHONHOME', 'PERL5LIB', 'PERL5OPT', 'RUBYLIB', 'RUBYOPT',
  'GIT_SSH', 'GIT_SSH_COMMAND', 'GIT_EXEC_PATH', 'GIT_CONFIG', 'GIT_CONFIG_GLOBAL', 'GIT_DIR', 'GIT_WORK_TREE',
  'GIT_EDITOR', 'GIT_EXTERNAL_DIFF', 'GIT_ASKPASS', 'SSH_ASKPASS', 'EDITOR', 'VISUAL', 'PAGER', 'GIT_PAGER',
  'MANPAGER', 'LESSOPEN', 'LESSCLOSE', 'HOME', 'SHELL', 'CDPATH', 'GLOBIGNORE', 'npm_config_script_shell',
]);

export function isDangerousVariable(name: string): boolean {
  return DANGEROUS_VARS.has(name) || name.startsWith('LD_') || name.startsWith('DYLD_') || name.startsWith('GIT_CONFIG_') || name.startsWith('BASH_FUNC_');
}
