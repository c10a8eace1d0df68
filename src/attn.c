/* attn.c: being written. */
