/** The message of anything thrown: an Error's own message, anything else as a string. */
export const errorMessage = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause));
