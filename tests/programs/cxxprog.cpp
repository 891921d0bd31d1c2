// tests/programs/cxxprog.cpp - a C++ program (std::vector, std::string,
// std::thread, std::mutex) run unchanged under the tracer (issue 4).
// stdout is deterministic; exit status 6.
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

std::mutex totals_lock;
std::map<std::string, std::size_t> totals;

void worker(int id)
{
	std::vector<std::string> words;
	for (int i = 0; i < 20000; i++) {
		std::string w = "w" + std::to_string((i * 7919 + id * 104729) % 5003);
		if (i % 3 == 0)
			w += std::string(static_cast<std::size_t>(i % 200), 'x');   // heap strings
		words.push_back(std::move(w));
	}
	std::sort(words.begin(), words.end());
	words.erase(std::unique(words.begin(), words.end()), words.end());
	auto big = std::make_unique<std::vector<double>>(1 << 18, id * 0.5);   // 2 MiB
	std::size_t chars = 0;
	for (const auto &w : words)
		chars += w.size();
	std::lock_guard<std::mutex> g(totals_lock);
	totals["thread" + std::to_string(id)] = words.size() * 1000000 + chars % 1000000 +
						static_cast<std::size_t>((*big)[12345]);
}

}  // namespace

int main()
{
	std::vector<std::thread> threads;
	for (int i = 0; i < 4; i++)
		threads.emplace_back(worker, i);
	for (auto &t : threads)
		t.join();
	for (const auto &kv : totals)
		std::printf("%s %zu\n", kv.first.c_str(), kv.second);
	std::printf("cxxprog: %zu threads done\n", totals.size());
	return 6;
}
