/* A library the test dlopens after its first lookup. */
int plugin_function(int x);
int plugin_function(int x)
{
	return x * 3 + 1;
}
