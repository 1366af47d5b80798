// Tests name domains, pools and page-index records by plain numbers; these helpers make them the
// branded ids the code under test takes (vmm/tmem/ids.ts), as a trace or a decoded struct would.
import type { DomId, PoolId } from "../../vmm/tmem/ids.js";
import { PageIndex } from "../../vmm/tmem/page-index.js";
import { testKernels } from "./kernels.js";

export const dom = (n: number): DomId => n as DomId;
export const poolId = (n: number): PoolId => n as PoolId;

type Raw<T> = T extends number ? number : T;
type RawArgs<A extends unknown[]> = { [I in keyof A]: Raw<A[I]> };
/** `T` with every branded number in its methods' parameters and results a plain number. */
export type Unbranded<T> = { [K in keyof T]: T[K] extends (...a: infer A) => infer R ? (...a: RawArgs<A>) => Raw<R> : T[K] };

/** A page index driven by raw record numbers (its white-box tests build records from them). */
export type RawIndex = Unbranded<PageIndex>;
export const rawIndex = (expectedPages?: number, hashKey?: number): RawIndex =>
  new PageIndex(testKernels.pageIndex(), expectedPages, hashKey) as unknown as RawIndex;
