/* sysv.c - a library with a SysV hash table only (--hash-style=sysv):
 * the look-up cannot read it and must leave it to dlsym. */
int gt_elfsym_sysv_only(void)
{
	return 7;
}
