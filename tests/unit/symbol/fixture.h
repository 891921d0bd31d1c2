/* Fixture for check_symbol: functions whose pcs and lines the tests know. */
#ifndef FIXTURE_H
#define FIXTURE_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
/* C++: returns a return address inside ns::Klass::method(int), and the line
 * of the call that produced it. */
uintptr_t fixture_cpp(int *line);
#ifdef __cplusplus
}
#endif
#endif
