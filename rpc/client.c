/* rpc/client.c - placeholder for the client-side RPC calls. */
int gt_client_placeholder(void);
int gt_client_placeholder(void)
{
	return 0;
}
