/* optim.c: being written. */
