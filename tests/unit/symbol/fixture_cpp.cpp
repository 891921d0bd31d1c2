// C++ fixture: a method in a namespace, for demangling.
#include "fixture.h"

namespace ns {
struct Klass {
	__attribute__((noinline)) uintptr_t method(int *line);
};

__attribute__((noinline)) static uintptr_t where()
{
	return (uintptr_t)__builtin_return_address(0);
}

uintptr_t Klass::method(int *line)
{
	*line = __LINE__ + 1;
	uintptr_t r = where();
	__asm__ volatile("" ::: "memory");
	return r;
}
} // namespace ns

extern "C" uintptr_t fixture_cpp(int *line)
{
	ns::Klass k;
	return k.method(line);
}
