/* later.c - dlopened after sysv.c's library, with a GNU hash table, and
 * the same name: the loader finds sysv.c's first, so must we (or leave
 * it to dlsym). */
int gt_elfsym_sysv_only(void)
{
	return 8;
}
