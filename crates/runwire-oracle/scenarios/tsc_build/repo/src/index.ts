import { twice } from "./util.js";

export const answer: number = twice(21);
