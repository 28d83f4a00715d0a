/* The public-API program that tests/cli/install_consumers.sh and
 * abi_exports.sh build against an installed or shared libcmhash: prints
 * the file's SHA-256 (upper-case hex) and the library version. */
#include <cmhash/cmhash.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    cmh_ctx *ctx;
    char hex[CMH_HEX_SIZE];
    if (argc != 2 || cmh_ctx_new(&ctx) != CMH_OK)
        return 2;
    cmh_status st = cmh_hash_file(hex, ctx, argv[1]);
    if (st != CMH_OK) {
        fprintf(stderr, "%s\n", cmh_ctx_last_error(ctx));
        cmh_ctx_free(ctx);
        return 1;
    }
    printf("%s %s\n", hex, cmh_version());
    cmh_ctx_free(ctx);
    return 0;
}
