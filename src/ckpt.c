/* ckpt.c: being written. */
