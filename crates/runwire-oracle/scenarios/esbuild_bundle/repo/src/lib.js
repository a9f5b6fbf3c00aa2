export const greet = (n) => `hi ${n}`;
