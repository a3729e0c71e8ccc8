/** E-mail address syntax, the one check used by sign-up, join requests and `user create`. */

/**
 * Something that looks like an address: one `@`, no spaces, a dot in the
 * domain, at most 320 characters (64 local + `@` + 255 domain). Whether it
 * receives mail is for the verification link to find out, not a regex.
 */
export function isEmail(value: string): boolean {
  return value.length <= 320 && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value);
}
