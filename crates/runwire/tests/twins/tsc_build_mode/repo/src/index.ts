import { twice } from "./util.js";

// state A
export const answer: number = twice(21);
