#define _GNU_SOURCE
#include "mosquitto_read_buffer.h"

#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

// Rewrites libmosquitto's GOT slots for `read` and `write` (see the header for why). Only that
// library's relocation tables are searched, and only those slots are written, once, before any
// MQTT thread starts. If anything is not as expected the slot is left alone and libmosquitto
// reads unbuffered, as it would without this.

#if defined(__x86_64__)
#define DP_R_JUMP_SLOT R_X86_64_JUMP_SLOT
#define DP_R_GLOB_DAT R_X86_64_GLOB_DAT
#elif defined(__aarch64__)
#define DP_R_JUMP_SLOT R_AARCH64_JUMP_SLOT
#define DP_R_GLOB_DAT R_AARCH64_GLOB_DAT
#endif

struct search {
    const char *prefix;  // of the file name: "libmosquitto.so" matches libmosquitto.so.1
    int result;
};

static int is_library(const char *path, const char *prefix) {
    if (path == NULL) return 0;
    const char *name = strrchr(path, '/');
    name = name ? name + 1 : path;
    return strncmp(name, prefix, strlen(prefix)) == 0;
}

#ifdef DP_R_JUMP_SLOT
/// Writes `replacement` into `slot` and stores what was there in `*old`. A slot in RELRO is made
/// writable for the write and read-only again after it; if that last step fails, the old value
/// goes back (the hook is off) and -5 is returned: a GOT page is never left writable with our
/// pointer in it.
static int patch_slot(void **slot, void *replacement, void **old, uintptr_t relro_start, uintptr_t relro_end) {
    uintptr_t s = (uintptr_t)slot;
    long page = sysconf(_SC_PAGESIZE);
    // the loader makes read-only only the whole pages of PT_GNU_RELRO (both ends rounded down);
    // a slot on the last, partial page stays writable, and so must that page
    uintptr_t mask = ~((uintptr_t)page - 1);
    int in_relro = s >= (relro_start & mask) && s < (relro_end & mask);
    void *page_start = (void *)(s & ~((uintptr_t)page - 1));
    if (in_relro && mprotect(page_start, (size_t)page, PROT_READ | PROT_WRITE) != 0) return -3;
    *old = __atomic_exchange_n(slot, replacement, __ATOMIC_ACQ_REL);
    if (in_relro && mprotect(page_start, (size_t)page, PROT_READ) != 0) {
        __atomic_store_n(slot, *old, __ATOMIC_RELEASE);
        return -5;
    }
    return 0;
}

static int find_slots(uintptr_t base, const ElfW(Rela) *rela, size_t bytes, const ElfW(Sym) *symtab,
                      const char *strtab, const char *symbol, void ***out, int room) {
    int n = 0;
    for (size_t i = 0; i < bytes / sizeof *rela && n < room; i++) {
        unsigned long type = ELF64_R_TYPE(rela[i].r_info);
        if (type != DP_R_JUMP_SLOT && type != DP_R_GLOB_DAT) continue;
        const ElfW(Sym) *sym = &symtab[ELF64_R_SYM(rela[i].r_info)];
        if (strcmp(strtab + sym->st_name, symbol) != 0) continue;
        out[n++] = (void **)(base + rela[i].r_offset);
    }
    return n;
}
#endif

static int visit(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct search *s = data;
    if (!is_library(info->dlpi_name, s->prefix)) return 0;
    uintptr_t base = info->dlpi_addr;
    const ElfW(Dyn) *dyn = NULL;
    uintptr_t relro_start = 0, relro_end = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = base + ph->p_vaddr;
        if (ph->p_type == PT_DYNAMIC) dyn = (const ElfW(Dyn) *)start;
        if (ph->p_type == PT_GNU_RELRO) { relro_start = start; relro_end = start + ph->p_memsz; }
    }
#ifndef DP_R_JUMP_SLOT
    s->result = -4;
    return 1;
#else
    if (dyn == NULL) { s->result = -1; return 1; }
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    const ElfW(Rela) *jmprel = NULL, *rela = NULL;
    size_t jmprel_size = 0, rela_size = 0;
    int plt_is_rela = 1;
    // glibc relocates these d_ptr entries in place on x86_64 and aarch64; add the base if not
    #define DP_PTR(v) ((uintptr_t)(v) < base ? base + (uintptr_t)(v) : (uintptr_t)(v))
    for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: symtab = (const ElfW(Sym) *)DP_PTR(d->d_un.d_ptr); break;
        case DT_STRTAB: strtab = (const char *)DP_PTR(d->d_un.d_ptr); break;
        case DT_JMPREL: jmprel = (const ElfW(Rela) *)DP_PTR(d->d_un.d_ptr); break;
        case DT_PLTRELSZ: jmprel_size = d->d_un.d_val; break;
        case DT_RELA: rela = (const ElfW(Rela) *)DP_PTR(d->d_un.d_ptr); break;
        case DT_RELASZ: rela_size = d->d_un.d_val; break;
        case DT_PLTREL: plt_is_rela = d->d_un.d_val == DT_RELA; break;
        default: break;
        }
    }
    #undef DP_PTR
    if (symtab == NULL || strtab == NULL || !plt_is_rela) { s->result = -2; return 1; }
    // both or neither: coalesced writes are flushed by the code that buffers reads
    static const char *const symbols[] = {"read", "write"};
    void *const replacements[] = {(void *)dp_buffered_read, (void *)dp_coalesced_write};
    void **slots[2][4];
    int found[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        const ElfW(Rela) *tables[2] = {jmprel, rela};
        size_t sizes[2] = {jmprel_size, rela_size};
        for (int t = 0; t < 2; t++) {
            if (tables[t] == NULL) continue;
            found[k] += find_slots(base, tables[t], sizes[t], symtab, strtab, symbols[k], slots[k] + found[k], 4 - found[k]);
        }
    }
    if (found[0] == 0 || found[1] == 0) { s->result = -2; return 1; }
    // all or nothing: a failure puts back every slot already written
    void *olds[2][4];
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < found[k]; i++) {
            int rc = patch_slot(slots[k][i], replacements[k], &olds[k][i], relro_start, relro_end);
            if (rc != 0) {
                for (int j = i - 1; j >= 0; j--) { void *ignored; patch_slot(slots[k][j], olds[k][j], &ignored, relro_start, relro_end); }
                for (int kk = k - 1; kk >= 0; kk--)
                    for (int j = found[kk] - 1; j >= 0; j--) { void *ignored; patch_slot(slots[kk][j], olds[kk][j], &ignored, relro_start, relro_end); }
                s->result = rc;
                return 1;
            }
        }
    int total = found[0];
    s->result = total > 0 ? 0 : -2;
    return 1;
#endif
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int install_result = -1;

int dp_redirect_io_imports(const char *library_prefix) {
    struct search s = { .prefix = library_prefix, .result = -1 };
    dl_iterate_phdr(visit, &s);
    return s.result;
}

static void install(void) { install_result = dp_redirect_io_imports("libmosquitto.so"); }

int dp_mosquitto_read_hook_install(void) {
    pthread_once(&once, install);
    return install_result;
}
