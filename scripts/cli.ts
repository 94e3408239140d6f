/** Plain lines for people running a one-shot script (the server logs JSON instead). */
export const consoleLog = {
  info: (message: string) => process.stdout.write(`${message}\n`),
  debug: () => {},
};
